package org.apache.spark.scheduler.cluster.berth

import java.util.{HashMap => JHashMap, List => JList, Map => JMap}

import scala.collection.JavaConverters._
import scala.concurrent.Future

import berth.spark.{BerthConf, BerthSchedulerCore, ExecutorLoss, ProfileSpec}

import org.apache.spark.SparkContext
import org.apache.spark.resource.ResourceProfile
import org.apache.spark.rpc.RpcEndpointAddress
import org.apache.spark.scheduler.{ExecutorDecommissionInfo, ExecutorExited, ExecutorProcessLost, TaskSchedulerImpl}
import org.apache.spark.scheduler.cluster.{CoarseGrainedSchedulerBackend, SchedulerBackendUtils}

/**
 * Thin glue between Spark's CoarseGrainedSchedulerBackend and BerthSchedulerCore, which holds
 * the logic (and its tests): this class only converts Spark's types. Executors register with the
 * driver directly, as on every cluster manager; Berth launches them and reports their end.
 */
private[spark] class BerthSchedulerBackend(scheduler: TaskSchedulerImpl, sc: SparkContext, masterURL: String)
  extends CoarseGrainedSchedulerBackend(scheduler, sc.env.rpcEnv) {

  private val initialExecutors = SchedulerBackendUtils.getInitialTargetExecutorNumber(conf)

  private val core = new BerthSchedulerCore(
    BerthConf.of(masterURL, conf.getAll.toMap.asJava),
    new BerthSchedulerCore.Listener {
      override def executorLost(executorId: String, loss: ExecutorLoss): Unit = {
        val reason = loss.kind match {
          case ExecutorLoss.Kind.EXITED => ExecutorExited(loss.exitCode, loss.causedByApp, loss.message)
          case _ => ExecutorProcessLost(loss.message, Option(loss.workerHost), loss.causedByApp)
        }
        removeExecutor(executorId, reason)
      }
      override def conditionsChanged(conditions: JList[String]): Unit =
        if (!conditions.isEmpty) logWarning(s"Berth: application ${applicationId()}: ${conditions.asScala.mkString("; ")}")
      override def applicationEnded(reason: String): Unit =
        logError(s"Berth ended application ${applicationId()}: $reason")
    })

  protected override val minRegisteredRatio: Double =
    if (conf.getOption("spark.scheduler.minRegisteredResourcesRatio").isEmpty) 0.8 else super.minRegisteredRatio

  override def applicationId(): String = conf.getOption("spark.app.id").getOrElse(super.applicationId())

  override def start(): Unit = {
    super.start()
    val driverUrl = RpcEndpointAddress(conf.get("spark.driver.host"), conf.get("spark.driver.port").toInt,
      CoarseGrainedSchedulerBackend.ENDPOINT_NAME).toString
    val default = ResourceProfile.getOrCreateDefaultProfile(conf)
    val initial = new JHashMap[Integer, Integer]()
    initial.put(default.id, initialExecutors)
    core.start(applicationId(), driverUrl, java.util.List.of(profileSpec(default)), initial)
  }

  override def stop(): Unit = {
    try super.stop()
    finally core.stop("SparkContext stopped")
  }

  override def sufficientResourcesRegistered(): Boolean =
    totalRegisteredExecutors.get() >= initialExecutors * minRegisteredRatio

  override protected def doRequestTotalExecutors(
      resourceProfileToTotalExecs: Map[ResourceProfile, Int]): Future[Boolean] = {
    val (totals, locality, hosts) = synchronized {
      (resourceProfileToTotalExecs.map { case (rp, n) => Integer.valueOf(rp.id) -> Integer.valueOf(n) },
       numLocalityAwareTasksPerResourceProfileId.map { case (id, n) => Integer.valueOf(id) -> Integer.valueOf(n) },
       rpHostToLocalTaskCount.map { case (id, m) =>
         Integer.valueOf(id) -> m.map { case (h, n) => h -> Integer.valueOf(n) }.asJava })
    }
    Future.successful(core.requestTotalExecutors(totals.asJava, locality.asJava, hosts.asJava))
  }

  override protected def doKillExecutors(executorIds: Seq[String]): Future[Boolean] =
    Future.successful(core.killExecutors(executorIds.asJava))

  override def decommissionExecutors(
      executorsAndDecomInfo: Array[(String, ExecutorDecommissionInfo)],
      adjustTargetNumExecutors: Boolean,
      triggeredByExecutor: Boolean): Seq[String] = {
    val decommissioned = super.decommissionExecutors(executorsAndDecomInfo, adjustTargetNumExecutors,
      triggeredByExecutor)
    // Spark tells the executors itself; Berth marks them DECOMMISSIONING and force-kills stragglers.
    if (decommissioned.nonEmpty && !triggeredByExecutor) core.decommissionExecutors(decommissioned.asJava, false)
    decommissioned
  }

  override protected def isExecutorExcluded(executorId: String, hostname: String): Boolean =
    core.hasEnded(executorId)

  /** Spark's ResourceProfile as Berth's: cores, heap, overhead, off-heap, PySpark memory, custom. */
  private def profileSpec(rp: ResourceProfile): ProfileSpec = {
    val resources = rp.executorResources
    def amount(name: String): Long = resources.get(name).map(_.amount).getOrElse(0L)
    val custom = new JHashMap[String, JMap.Entry[String, java.lang.Long]]()
    resources.foreach { case (name, request) =>
      if (!Set(ResourceProfile.CORES, ResourceProfile.MEMORY, ResourceProfile.OVERHEAD_MEM,
               ResourceProfile.OFFHEAP_MEM, ResourceProfile.PYSPARK_MEM).contains(name)) {
        custom.put(name, java.util.Map.entry(request.vendor, java.lang.Long.valueOf(request.amount)))
      }
    }
    val cores = resources.get(ResourceProfile.CORES).map(_.amount.toInt).getOrElse(conf.getInt("spark.executor.cores", 1))
    val heap = resources.get(ResourceProfile.MEMORY).map(_.amount).getOrElse(conf.getSizeAsMb("spark.executor.memory", "1g"))
    val factor = conf.getDouble("spark.executor.memoryOverheadFactor", 0.1)
    new ProfileSpec(rp.id, cores, heap, amount(ResourceProfile.OVERHEAD_MEM), factor,
      amount(ResourceProfile.OFFHEAP_MEM), amount(ResourceProfile.PYSPARK_MEM), custom)
  }
}
