package berth.client;

import berth.v1.Berth;
import io.grpc.Status;

/**
 * Receives the events of an {@link EventWatch}. Calls are serial (never two at once) and in
 * revision order within a stream; they run on a gRPC thread, so they should return quickly.
 */
public interface WatchListener {
  /** An EXECUTOR or APPLICATION event, live or part of a snapshot. */
  void onEvent(Berth.Event event);

  /**
   * The revision the watch resumed from is no longer kept by berthd: a full snapshot of the
   * current state follows (as onEvent calls), then {@link #onSynced}. Everything the listener
   * derived from earlier events should be rebuilt from that snapshot.
   */
  default void onResync(String message) {}

  /** A snapshot is complete at {@code revision}; live changes follow. */
  default void onSynced(long revision) {}

  /** The stream broke and will be resumed after a backoff. */
  default void onDisconnected(Status status) {}

  /** A failure that retrying cannot fix (NOT_FOUND, PERMISSION_DENIED, ...): the watch ended. */
  default void onError(Status status) {}
}
