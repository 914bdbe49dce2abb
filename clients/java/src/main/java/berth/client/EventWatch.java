package berth.client;

import berth.v1.Berth;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * A WatchEvents stream that survives broken connections: it remembers the revision of the last
 * event it delivered and, when the stream fails (daemon restarted, connection dropped, watcher
 * fell behind), opens a new one from that revision after a backoff, on the next address if the
 * daemon was UNAVAILABLE. berthd replays what was missed; if that revision has left its event
 * window it sends RESYNC and a snapshot, which the listener sees as {@link WatchListener#onResync}.
 * A stream broken in the middle of a snapshot is resumed from the revision before the snapshot,
 * so no change is skipped.
 *
 * <p>Listener calls are serial. Thread-safe; {@link #close} stops it for good.
 */
public final class EventWatch implements AutoCloseable {
  private static final Set<Status.Code> FATAL = Set.of(Status.Code.NOT_FOUND, Status.Code.PERMISSION_DENIED,
      Status.Code.UNAUTHENTICATED, Status.Code.INVALID_ARGUMENT, Status.Code.FAILED_PRECONDITION,
      Status.Code.UNIMPLEMENTED);

  private final BerthClient client;
  private final String appId;
  private final WatchListener listener;
  private long resumeFrom;          // the revision a new stream starts from
  private boolean inSnapshot;       // between the start of a snapshot and its SYNCED
  private int failures;             // consecutive broken streams, for the backoff
  private int streams;
  private boolean closed;
  private ClientCallStreamObserver<Berth.WatchEventsRequest> call;

  EventWatch(BerthClient client, String appId, long fromRevision, WatchListener listener) {
    this.client = client;
    this.appId = appId;
    this.listener = listener;
    this.resumeFrom = fromRevision;
  }

  /** The revision a resumed stream would start from: the last one fully delivered. */
  public synchronized long revision() {
    return resumeFrom;
  }

  /** How many streams were opened (1 + reconnections). */
  public synchronized int streams() {
    return streams;
  }

  synchronized void start() {
    if (closed) return;
    ++streams;
    final int index = client.currentIndex();
    // From 0 the stream starts with a snapshot of now (no RESYNC marker).
    inSnapshot = resumeFrom == 0;
    Berth.WatchEventsRequest request =
        Berth.WatchEventsRequest.newBuilder().setAppId(appId).setFromRevision(resumeFrom).build();
    client.asyncStub(index).watchEvents(request, new ClientResponseObserver<Berth.WatchEventsRequest, Berth.Event>() {
      @Override
      public void beforeStart(ClientCallStreamObserver<Berth.WatchEventsRequest> observer) {
        call = observer;
      }

      @Override
      public void onNext(Berth.Event event) {
        deliver(event);
      }

      @Override
      public void onError(Throwable error) {
        broken(index, Status.fromThrowable(error));
      }

      @Override
      public void onCompleted() {
        broken(index, Status.UNAVAILABLE.withDescription("the daemon ended the stream"));
      }
    });
  }

  private void deliver(Berth.Event event) {
    synchronized (this) {
      if (closed) return;
      failures = 0;
    }
    switch (event.getType()) {
      case RESYNC:
        synchronized (this) { inSnapshot = true; }
        listener.onResync(event.getMessage());
        break;
      case SYNCED:
        synchronized (this) {
          inSnapshot = false;
          resumeFrom = Math.max(resumeFrom, event.getRevision());
        }
        listener.onSynced(event.getRevision());
        break;
      default:
        synchronized (this) {
          if (!inSnapshot) resumeFrom = Math.max(resumeFrom, event.getRevision());
        }
        listener.onEvent(event);
    }
  }

  private void broken(int index, Status status) {
    long delay;
    synchronized (this) {
      call = null;
      if (closed) return;
      if (FATAL.contains(status.getCode())) {
        closed = true;
      } else {
        if (status.getCode() == Status.Code.UNAVAILABLE) client.failOver(index);
        ++failures;
      }
    }
    if (FATAL.contains(status.getCode())) {
      listener.onError(status);
      return;
    }
    listener.onDisconnected(status);
    synchronized (this) {
      delay = client.backoff(failures).toMillis();
    }
    try {
      client.scheduler().schedule(this::start, delay, TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // The client is closing: nothing left to resume.
    }
  }

  @Override
  public void close() {
    ClientCallStreamObserver<Berth.WatchEventsRequest> open;
    synchronized (this) {
      closed = true;
      open = call;
      call = null;
    }
    if (open != null) open.cancel("watch closed", null);
  }
}
