package berth.spark;

import berth.client.BerthClient;
import berth.client.EventWatch;
import berth.client.WatchListener;
import berth.v1.Berth;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The Spark-independent half of Berth's scheduler backend: everything Spark's
 * CoarseGrainedSchedulerBackend asks of a cluster manager, mapped onto berthd, in plain Java
 * types so that it is tested against a real berthd without Spark. The Spark glue
 * (org.apache.spark.scheduler.cluster.berth) only converts Spark's types and forwards.
 *
 * <p>Order of calls, as Spark makes them: {@link #start} once (register the application, open
 * the event watch, start the lease keeper); then any number of {@link #requestTotalExecutors},
 * {@link #killExecutors} and {@link #decommissionExecutors}, from any thread; {@link #stop} once.
 * The {@link Listener} hears, once per executor, why each executor ended, on the watch's thread.
 *
 * <p>Thread-safe.
 */
public final class BerthSchedulerCore implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(BerthSchedulerCore.class.getName());

  /** What the glue forwards to Spark. */
  public interface Listener {
    /** Executor {@code executorId} ended; the glue calls Spark's removeExecutor with this reason. */
    void executorLost(String executorId, ExecutorLoss loss);

    /** The application's conditions changed (e.g. "QUOTA_EXCEEDED: ..."); for the driver's log. */
    default void conditionsChanged(List<String> conditions) {}

    /** berthd ended the application (lease lapsed, operator): the driver cannot get executors. */
    default void applicationEnded(String reason) {}
  }

  private final BerthConf conf;
  private final BerthClient client;
  private final Listener listener;
  private final Set<Long> reported = new HashSet<>();   // executors whose loss went to Spark
  private final Set<Long> ended = new HashSet<>();      // terminal in Berth, whatever the state
  private Set<Integer> profiles = Set.of();
  private List<String> conditions = List.of();
  private String appId;
  private EventWatch watch;
  private AutoCloseable lease;
  private boolean stopped;

  public BerthSchedulerCore(BerthConf conf, Listener listener) {
    this.conf = conf;
    this.client = BerthClient.connect(conf.clientOptions());
    this.listener = listener;
  }

  /**
   * Registers the application (idempotent: a restarted driver with the same app id and spec
   * continues), opens the watch, starts renewing the lease and sets the initial totals.
   *
   * @throws StatusRuntimeException when berthd refuses the registration (bad spec, unknown pool)
   */
  public synchronized Berth.Application start(String sparkAppId, String driverUrl, List<ProfileSpec> profileSpecs,
                                              Map<Integer, Integer> initialTotals) {
    appId = sparkAppId;
    Berth.RegisterApplicationRequest.Builder request = Berth.RegisterApplicationRequest.newBuilder()
        .setAppId(sparkAppId).setTenant(conf.tenant).addAllPools(conf.pools).setLaunch(conf.launch)
        .setLeaseTtlSeconds(conf.leaseTtl.toSeconds());
    Berth.Driver.Builder driver = Berth.Driver.newBuilder().setUrl(driverUrl);
    if (conf.driverPod != null) driver.setPod(conf.driverPod);
    request.setDriver(driver);
    Set<Integer> ids = new HashSet<>();
    for (ProfileSpec profile : profileSpecs) {
      request.addProfiles(profile.toProto());
      ids.add(profile.id());
    }
    profiles = Set.copyOf(ids);
    Berth.Application app = client.registerApplication(request.build());
    watch = client.watch(sparkAppId, 0, new Events());
    if (conf.leaseTtl.toSeconds() > 0) {
      lease = client.keepLease(sparkAppId, conf.keepAliveInterval,
          e -> LOG.warning("Berth: KeepAlive of " + sparkAppId + " failed: " + e.getStatus()));
    }
    if (!initialTotals.isEmpty()) client.requestTotalExecutors(sparkAppId, initialTotals);
    return app;
  }

  /**
   * Sets the absolute totals per profile with Spark's locality hints. False when berthd could
   * not be reached or refused (a profile it was not told about at start), which Spark treats as
   * "the cluster manager did not acknowledge".
   */
  public boolean requestTotalExecutors(Map<Integer, Integer> totals, Map<Integer, Integer> localityAwareTasks,
                                       Map<Integer, Map<String, Integer>> hostToLocalTaskCount) {
    String app;
    synchronized (this) {
      app = appId;
      for (Integer profile : totals.keySet()) {
        if (!profiles.contains(profile)) {
          LOG.warning("Berth: resource profile " + profile + " was not registered at start; berthd cannot "
              + "launch executors for it");
          return false;
        }
      }
    }
    Berth.RequestTotalExecutorsRequest.Builder request =
        Berth.RequestTotalExecutorsRequest.newBuilder().setAppId(app).putAllTotals(totals)
            .putAllLocalityAwareTasks(localityAwareTasks);
    hostToLocalTaskCount.forEach((profile, hosts) ->
        request.putLocality(profile, Berth.HostTasks.newBuilder().putAllTasksPerHost(hosts).build()));
    try {
      return client.requestTotalExecutors(request.build()).getAccepted();
    } catch (StatusRuntimeException e) {
      LOG.warning("Berth: RequestTotalExecutors of " + app + " failed: " + e.getStatus());
      return false;
    }
  }

  /**
   * Kills executors by Spark id. The target is not adjusted: Spark has already sent the new
   * total when it wants fewer. True when berthd acknowledged the call (unknown ids included).
   */
  public boolean killExecutors(Collection<String> executorIds) {
    try {
      client.killExecutors(appId(), toLongs(executorIds), false, false);
      return true;
    } catch (StatusRuntimeException e) {
      LOG.warning("Berth: KillExecutors " + executorIds + " of " + appId() + " failed: " + e.getStatus());
      return false;
    }
  }

  /** Asks berthd to decommission executors; returns the ids it accepted. */
  public List<String> decommissionExecutors(Collection<String> executorIds, boolean adjustTarget) {
    try {
      Berth.DecommissionExecutorsResponse response =
          client.decommissionExecutors(appId(), toLongs(executorIds), conf.decommissionGrace, adjustTarget);
      List<String> accepted = new ArrayList<>();
      response.getAcceptedList().forEach(id -> accepted.add(Long.toString(id)));
      return accepted;
    } catch (StatusRuntimeException e) {
      LOG.warning("Berth: DecommissionExecutors " + executorIds + " of " + appId() + " failed: " + e.getStatus());
      return List.of();
    }
  }

  /** True when Berth has ended this executor: Spark refuses its registration (isExecutorExcluded). */
  public synchronized boolean hasEnded(String executorId) {
    try {
      return ended.contains(Long.parseLong(executorId));
    } catch (NumberFormatException e) {
      return false;
    }
  }

  public synchronized List<String> conditions() {
    return conditions;
  }

  public BerthClient client() {
    return client;
  }

  /** Stops the lease and the watch and unregisters the application (berthd kills its executors). */
  public void stop(String reason) {
    EventWatch w;
    AutoCloseable l;
    String app;
    synchronized (this) {
      if (stopped) return;
      stopped = true;
      w = watch;
      l = lease;
      app = appId;
    }
    try {
      if (l != null) l.close();
    } catch (Exception e) {
      LOG.log(Level.FINE, "closing the lease keeper", e);
    }
    if (w != null) w.close();
    if (app != null) {
      try {
        client.unregisterApplication(app, reason);
      } catch (StatusRuntimeException e) {
        LOG.warning("Berth: UnregisterApplication of " + app + " failed: " + e.getStatus());
      }
    }
    client.close();
  }

  @Override
  public void close() {
    stop("driver stopped");
  }

  private synchronized String appId() {
    if (appId == null) throw new IllegalStateException("start() was not called");
    return appId;
  }

  private static List<Long> toLongs(Collection<String> ids) {
    List<Long> result = new ArrayList<>();
    for (String id : ids) {
      try {
        result.add(Long.parseLong(id));
      } catch (NumberFormatException e) {
        LOG.warning("Berth: executor id " + id + " is not an integer; ignored");
      }
    }
    return result;
  }

  /** Watch events -> executor losses (each reported once, also across resyncs) and conditions. */
  private final class Events implements WatchListener {
    @Override
    public void onEvent(Berth.Event event) {
      if (event.getType() == Berth.Event.Type.EXECUTOR) {
        executorChanged(event.getExecutor());
      } else if (event.getType() == Berth.Event.Type.APPLICATION) {
        applicationChanged(event.getApplication());
      }
    }

    @Override
    public void onResync(String message) {
      LOG.info("Berth: watch of " + appId + " resynchronises: " + message);
    }

    @Override
    public void onError(Status status) {
      LOG.warning("Berth: watch of " + appId + " ended: " + status);
    }

    private void executorChanged(Berth.Executor executor) {
      ExecutorLoss loss = ExecutorLoss.of(executor);
      boolean terminal = loss != null || executor.getState() == Berth.ExecutorState.CANCELLED;
      synchronized (BerthSchedulerCore.this) {
        if (terminal) ended.add(executor.getExecutorId());
        if (loss == null || !reported.add(executor.getExecutorId())) return;
      }
      listener.executorLost(Long.toString(executor.getExecutorId()), loss);
    }

    private void applicationChanged(Berth.Application app) {
      List<String> now = List.copyOf(app.getConditionsList());
      boolean changed;
      synchronized (BerthSchedulerCore.this) {
        changed = !now.equals(conditions);
        conditions = now;
      }
      if (changed) listener.conditionsChanged(now);
      if (app.getPhase() == Berth.ApplicationPhase.ENDED) listener.applicationEnded(app.getEndReason());
    }
  }
}
