package berth.spark;

import berth.v1.Berth;

/**
 * Why an executor ended, in the shape of Spark's loss reasons: {@code EXITED} becomes
 * {@code ExecutorExited(exitCode, exitCausedByApp, message)}, {@code PROCESS_LOST} becomes
 * {@code ExecutorProcessLost(message, workerHost, causedByApp)} with workerHost set (non-null)
 * only when the whole host is gone.
 */
public record ExecutorLoss(Kind kind, int exitCode, boolean causedByApp, String message, String workerHost) {
  public enum Kind { EXITED, PROCESS_LOST }

  /** The loss of a terminal executor, or null for one Spark never needs to hear about (CANCELLED). */
  static ExecutorLoss of(Berth.Executor executor) {
    Berth.Loss loss = executor.getLoss();
    int code = executor.getHasExitCode() ? executor.getExitCode() : -1;
    String detail = loss.getReason().isEmpty() ? loss.getMessage()
        : loss.getMessage().isEmpty() ? loss.getReason() : loss.getReason() + ": " + loss.getMessage();
    String message = "Berth: executor " + executor.getExecutorId() + " " + executor.getState()
        + (detail.isEmpty() ? "" : " (" + detail + ")")
        + (executor.getBackendName().isEmpty() ? "" : " [" + executor.getPool() + "/" + executor.getBackendName() + "]");
    switch (executor.getState()) {
      case SUCCEEDED:
      case FAILED:
        return new ExecutorLoss(Kind.EXITED, code, loss.getCausedByApp(), message, null);
      case KILLED:
      case LAUNCH_FAILED:
        // Killed by the driver, an operator or the lease, or never started: not the app's fault.
        return new ExecutorLoss(Kind.EXITED, code, false, message, null);
      case LOST:
        return new ExecutorLoss(Kind.PROCESS_LOST, code, loss.getCausedByApp(), message,
                                loss.getHostLost() && !executor.getHost().isEmpty() ? executor.getHost() : null);
      default:
        return null;  // CANCELLED, or not terminal
    }
  }
}
