package org.apache.spark.scheduler.cluster.berth

import org.apache.spark.SparkContext
import org.apache.spark.scheduler.{ExternalClusterManager, SchedulerBackend, TaskScheduler, TaskSchedulerImpl}

/**
 * Spark's entry point for master URLs `berth://host:port[,host:port]`, found by SparkContext
 * through ServiceLoader (META-INF/services). It lives under org.apache.spark because
 * ExternalClusterManager is private[spark].
 */
private[spark] class BerthClusterManager extends ExternalClusterManager {
  override def canCreate(masterURL: String): Boolean = berth.spark.BerthConf.accepts(masterURL)

  override def createTaskScheduler(sc: SparkContext, masterURL: String): TaskScheduler =
    new TaskSchedulerImpl(sc)

  override def createSchedulerBackend(sc: SparkContext, masterURL: String,
                                      scheduler: TaskScheduler): SchedulerBackend =
    new BerthSchedulerBackend(scheduler.asInstanceOf[TaskSchedulerImpl], sc, masterURL)

  override def initialize(scheduler: TaskScheduler, backend: SchedulerBackend): Unit =
    scheduler.asInstanceOf[TaskSchedulerImpl].initialize(backend)
}
