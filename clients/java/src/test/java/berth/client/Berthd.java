package berth.client;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * A real berthd for the tests: its own temporary directory (config, state, log), gRPC on an
 * ephemeral loopback port (read from --port-file), the local backend with short reconciler
 * timings, and a marker in every executor's environment so that {@link #close} can kill the
 * executors it leaves behind (a stopped berthd never kills executors). The binary comes from
 * BERTHD (CTest sets it).
 */
public final class Berthd implements AutoCloseable {
  public static final String MARKER_VAR = "BERTH_TEST_MARKER";

  public final Path dir;
  public final String marker = UUID.randomUUID().toString().replace("-", "");
  private final Path config;
  private final Path portFile;
  private final Path log;
  private Process process;
  private String address;

  /** extraConfig: top-level YAML lines added to the config (tls:, tokens_file: ...). */
  public Berthd(String extraConfig) throws IOException {
    dir = Files.createTempDirectory("berth-java-");
    config = dir.resolve("berthd.yaml");
    portFile = dir.resolve("berthd.ports");
    log = dir.resolve("berthd.log");
    String yaml = String.join("\n",
        "state_dir: \"" + dir.resolve("state") + "\"",
        "listen: \"127.0.0.1:0\"",
        "metrics_listen: \"127.0.0.1:0\"",
        "allow_unauthenticated_loopback: true",
        "logging: {level: info}",
        "reconciler: {launch_timeout: 20s, missing_grace: 2s, orphan_grace: 1s, resync_interval: 2s,",
        "             kill_grace: 1s, backoff_initial: 100ms, backoff_max: 1s}",
        "pools:",
        "  - {name: local, type: local, local: {poll_interval: 100ms, allow_root: true}}",
        extraConfig, "");
    Files.writeString(config, yaml);
  }

  public Berthd() throws IOException {
    this("");
  }

  public static String binary() {
    String path = System.getenv("BERTHD");
    if (path == null) throw new IllegalStateException("BERTHD is not set (CTest sets it)");
    return path;
  }

  /** Starts berthd and waits for its port file; fails with its log if it exits first. */
  public Berthd start() throws IOException {
    Files.deleteIfExists(portFile);
    process = new ProcessBuilder(binary(), "--config", config.toString(), "--port-file", portFile.toString())
        .directory(dir.toFile())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
        .start();
    String text = waitFor(Duration.ofSeconds(20), "berthd writes " + portFile, () -> {
      if (!process.isAlive()) throw new AssertionError("berthd exited with " + process.exitValue() + ":\n" + logText());
      try {
        String ports = Files.exists(portFile) ? Files.readString(portFile) : null;
        return ports != null && ports.endsWith("\n") ? ports : null;
      } catch (IOException e) {
        return null;
      }
    });
    for (String line : text.split("\n")) {
      if (line.startsWith("grpc=")) address = line.substring(5).trim();
    }
    return this;
  }

  /** SIGKILL (a crash) and wait for the process to be reaped. */
  public void kill() throws InterruptedException {
    if (process != null && process.isAlive()) {
      process.destroyForcibly();
      process.waitFor();
    }
  }

  public String address() {
    return address;
  }

  /** The port berthd listens on. */
  public int port() {
    return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
  }

  public String logText() {
    try {
      return Files.readString(log);
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  /** The environment a test gives its executors: the marker that close() kills by. */
  public Map<String, String> executorEnv() {
    return Map.of(MARKER_VAR, marker);
  }

  /** Pids of live processes whose environment holds this daemon's marker (executors, shims). */
  public List<Long> markedProcesses() {
    byte[] needle = (MARKER_VAR + "=" + marker).getBytes(StandardCharsets.UTF_8);
    List<Long> pids = new ArrayList<>();
    File[] entries = new File("/proc").listFiles();
    if (entries == null) return pids;
    for (File entry : entries) {
      if (!entry.getName().chars().allMatch(Character::isDigit)) continue;
      try {
        byte[] env = Files.readAllBytes(entry.toPath().resolve("environ"));
        String stat = Files.readString(entry.toPath().resolve("stat"));
        String state = stat.substring(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        if (!state.equals("Z") && contains(env, needle)) pids.add(Long.parseLong(entry.getName()));
      } catch (IOException | RuntimeException e) {
        // gone, or not ours to read
      }
    }
    return pids;
  }

  private static boolean contains(byte[] env, byte[] needle) {
    int start = 0;
    for (int i = 0; i <= env.length; ++i) {
      if (i == env.length || env[i] == 0) {
        if (i - start == needle.length && java.util.Arrays.equals(env, start, i, needle, 0, needle.length)) return true;
        start = i + 1;
      }
    }
    return false;
  }

  @Override
  public void close() throws Exception {
    kill();
    waitFor(Duration.ofSeconds(10), "marked processes gone", () -> {
      List<Long> pids = markedProcesses();
      pids.forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
      return pids.isEmpty() ? Boolean.TRUE : null;
    });
    if (System.getenv("BERTH_TEST_KEEP") == null) deleteTree(dir);
  }

  public static void deleteTree(Path root) throws IOException {
    try (Stream<Path> walk = Files.walk(root)) {
      walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  /** Polls {@code condition} until it returns non-null, or fails after {@code timeout}. */
  public static <T> T waitFor(Duration timeout, String what, Supplier<T> condition) {
    Instant deadline = Instant.now().plus(timeout);
    T value;
    while ((value = condition.get()) == null) {
      if (Instant.now().isAfter(deadline)) throw new AssertionError("timed out after " + timeout + ": " + what);
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted waiting for " + what);
      }
    }
    return value;
  }
}
