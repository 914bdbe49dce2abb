package berth.client;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import berth.v1.Berth;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/** BerthClient against a real berthd: the calls, errors, fail-over, retries, deadlines, TLS, tokens. */
public class BerthClientTest {
  private static Berthd daemon;
  private static BerthClient client;

  @BeforeClass
  public static void startDaemon() throws Exception {
    daemon = new Berthd().start();
    client = BerthClient.connect(daemon.address());
  }

  @AfterClass
  public static void stopDaemon() throws Exception {
    if (client != null) client.close();
    if (daemon != null) daemon.close();
  }

  /** A loopback port nothing listens on. */
  static int deadPort() throws Exception {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  static List<Long> ids(List<Berth.Executor> executors) {
    return executors.stream().map(Berth.Executor::getExecutorId).sorted().collect(Collectors.toList());
  }

  static Status.Code codeOf(Runnable call) {
    try {
      call.run();
    } catch (StatusRuntimeException e) {
      return e.getStatus().getCode();
    }
    fail("the call succeeded");
    return null;
  }

  @Test
  public void registerTargetKillAndUnregister() {
    String app = TestApps.newAppId("java");
    Berth.Application registered = client.registerApplication(TestApps.localApp(daemon, app, 0));
    assertEquals(app, registered.getAppId());
    assertEquals(Berth.ApplicationPhase.ACTIVE, registered.getPhase());
    // Registering the identical spec again is accepted (a retried call must not fail).
    client.registerApplication(TestApps.localApp(daemon, app, 0));

    assertTrue(client.requestTotalExecutors(app, Map.of(0, 2)).getAccepted());
    assertEquals(List.of(1L, 2L), ids(TestApps.waitRunning(client, app, 2)));

    Berth.KillExecutorsResponse killed = client.killExecutors(app, List.of(1L, 99L), true, false);
    assertEquals(List.of(1L), killed.getKilledList());
    assertEquals(List.of(99L), killed.getUnknownList());
    assertEquals(1, client.getApplication(app).getProfileStatus(0).getTarget());
    assertEquals(List.of(2L), ids(TestApps.waitRunning(client, app, 1)));

    client.unregisterApplication(app, "test done");
    Berthd.waitFor(Duration.ofSeconds(20), "every executor ended", () ->
        client.listExecutors(app, Berth.ExecutorState.RUNNING).getExecutorsCount() == 0 ? true : null);
    assertEquals(Berth.ApplicationPhase.ENDED, client.getApplication(app).getPhase());
  }

  @Test
  public void errorsCarryTheDaemonsCodes() {
    assertEquals(Status.Code.NOT_FOUND, codeOf(() -> client.getApplication("no-such-app")));
    String app = TestApps.newAppId("java-errors");
    client.registerApplication(TestApps.localApp(daemon, app, 0));
    assertEquals(Status.Code.INVALID_ARGUMENT, codeOf(() -> client.requestTotalExecutors(app, Map.of(7, 1))));
    Berth.RegisterApplicationRequest other =
        TestApps.localApp(daemon, app, 0).toBuilder().setLeaseTtlSeconds(60).build();
    assertEquals(Status.Code.ALREADY_EXISTS, codeOf(() -> client.registerApplication(other)));
    client.unregisterApplication(app, "test done");
  }

  @Test
  public void failsOverToTheNextAddress() throws Exception {
    String addresses = "127.0.0.1:" + deadPort() + "," + daemon.address();
    try (BerthClient two = BerthClient.connect(ClientOptions.builder().addresses(addresses)
        .retries(4, Duration.ofMillis(20), Duration.ofMillis(100)).build())) {
      String app = TestApps.newAppId("java-failover");
      two.registerApplication(TestApps.localApp(daemon, app, 0));
      assertEquals(daemon.address(), two.currentAddress());
      assertEquals(app, two.getApplication(app).getAppId());
      two.unregisterApplication(app, "test done");
    }
  }

  @Test
  public void deadlineCoversTheRetries() throws Exception {
    try (BerthClient dead = BerthClient.connect(ClientOptions.builder().addresses("127.0.0.1:" + deadPort())
        .callTimeout(Duration.ofMillis(500)).retries(1000, Duration.ofMillis(50), Duration.ofMillis(200)).build())) {
      long start = System.nanoTime();
      Status.Code code = codeOf(() -> dead.getApplication("any"));
      long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      assertTrue("code " + code, code == Status.Code.DEADLINE_EXCEEDED || code == Status.Code.UNAVAILABLE);
      assertTrue("gave up after " + elapsedMs + " ms", elapsedMs < 3000);
    }
  }

  @Test
  public void retriesUnavailableUntilTheDaemonIsBack() throws Exception {
    // A daemon of its own, restarted on the same port.
    try (Berthd own = new Berthd().start()) {
      int port = own.port();
      String app = TestApps.newAppId("java-retry");
      ClientOptions options = ClientOptions.builder().addresses(own.address()).callTimeout(Duration.ofSeconds(30))
          .retries(1000, Duration.ofMillis(50), Duration.ofMillis(300)).build();
      try (BerthClient retrying = BerthClient.connect(options);
           BerthClient once = BerthClient.connect(ClientOptions.builder().addresses(own.address())
               .retries(1, Duration.ofMillis(1), Duration.ofMillis(1)).build())) {
        retrying.registerApplication(TestApps.localApp(own, app, 0));
        own.kill();
        assertEquals(Status.Code.UNAVAILABLE, codeOf(() -> once.getApplication(app)));
        CompletableFuture<Berth.Application> pending = CompletableFuture.supplyAsync(() -> retrying.getApplication(app));
        Files.writeString(own.dir.resolve("berthd.yaml"),
            Files.readString(own.dir.resolve("berthd.yaml")).replace("127.0.0.1:0\"\nmetrics", "127.0.0.1:" + port + "\"\nmetrics"));
        own.start();
        assertEquals(app, pending.get(30, TimeUnit.SECONDS).getAppId());
        retrying.unregisterApplication(app, "test done");
      }
    }
  }

  @Test
  public void keepLeaseMovesTheLeaseDeadline() throws Exception {
    String app = TestApps.newAppId("java-lease");
    long first = client.registerApplication(TestApps.localApp(daemon, app, 3)).getLeaseDeadline().getSeconds();
    try (AutoCloseable lease = client.keepLease(app, Duration.ofMillis(200), null)) {
      Berthd.waitFor(Duration.ofSeconds(10), "the lease deadline moves on", () ->
          client.getApplication(app).getLeaseDeadline().getSeconds() >= first + 2 ? true : null);
      assertEquals(Berth.ApplicationPhase.ACTIVE, client.getApplication(app).getPhase());
    }
    client.unregisterApplication(app, "test done");
  }

  @Test
  public void tlsAndBearerToken() throws Exception {
    Path certs = Files.createTempDirectory("berth-java-certs-");
    Certificates.make(certs);
    String token = "java-client-test-token-0123456789";
    Path tokens = certs.resolve("tokens.yaml");
    Files.writeString(tokens, "tokens:\n  - {token: \"" + token + "\", tenant: default, role: driver}\n");
    Path tokenFile = certs.resolve("token");
    Files.writeString(tokenFile, token + "\n");
    String extra = "tls: {cert_file: \"" + certs.resolve("server.pem") + "\", key_file: \"" + certs.resolve("server.key")
        + "\", client_ca_file: \"" + certs.resolve("ca.pem") + "\"}\ntokens_file: \"" + tokens + "\"";
    try (Berthd secure = new Berthd(extra).start()) {
      ClientOptions.Builder base = ClientOptions.builder().addresses(secure.address()).caFile(certs.resolve("ca.pem"))
          .clientCertificate(certs.resolve("client.pem"), certs.resolve("client.key"))
          .retries(1, Duration.ofMillis(10), Duration.ofMillis(10));
      try (BerthClient good = BerthClient.connect(base.tokenFile(tokenFile).build())) {
        String app = TestApps.newAppId("java-tls");
        assertEquals(app, good.registerApplication(TestApps.localApp(secure, app, 0)).getAppId());
        good.unregisterApplication(app, "test done");
      }
      try (BerthClient noToken = BerthClient.connect(ClientOptions.builder().addresses(secure.address())
          .caFile(certs.resolve("ca.pem")).clientCertificate(certs.resolve("client.pem"), certs.resolve("client.key"))
          .retries(1, Duration.ofMillis(10), Duration.ofMillis(10)).build())) {
        assertEquals(Status.Code.UNAUTHENTICATED, codeOf(() -> noToken.getApplication("any")));
      }
      try (BerthClient plaintext = BerthClient.connect(ClientOptions.builder().addresses(secure.address())
          .token(token).retries(1, Duration.ofMillis(10), Duration.ofMillis(10)).build())) {
        assertEquals(Status.Code.UNAVAILABLE, codeOf(() -> plaintext.getApplication("any")));
      }
    } finally {
      Berthd.deleteTree(certs);
    }
  }
}
