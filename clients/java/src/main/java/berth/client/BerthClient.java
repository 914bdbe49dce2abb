package berth.client;

import berth.v1.Berth;
import berth.v1.ExecutorsGrpc;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.Deadline;
import io.grpc.ForwardingClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * A client of berthd's {@code berth.v1.Executors} service with the conveniences every driver
 * needs: several daemon addresses (the next one is tried when a call finds its daemon
 * UNAVAILABLE), retries with exponential backoff and jitter for UNAVAILABLE, one deadline per
 * call covering its retries, a bearer token and TLS, a resumable {@link EventWatch} and a lease
 * keeper.
 *
 * <p>Every Executors call Berth offers is idempotent (absolute totals, kills by id, a register
 * that accepts an identical spec again), which is why UNAVAILABLE is retried for all of them.
 * Failures reach the caller as {@link StatusRuntimeException} with berthd's code and message
 * (NOT_FOUND, INVALID_ARGUMENT naming the field, ALREADY_EXISTS, PERMISSION_DENIED ...).
 *
 * <p>Thread-safe: one client may be shared by every thread of a driver. Close it to release its
 * channels and its scheduler thread.
 */
public final class BerthClient implements AutoCloseable {
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final ClientOptions options;
  private final List<ManagedChannel> channels = new ArrayList<>();
  private final List<ExecutorsGrpc.ExecutorsBlockingStub> blocking = new ArrayList<>();
  private final List<ExecutorsGrpc.ExecutorsStub> async = new ArrayList<>();
  private final AtomicInteger current = new AtomicInteger();
  private final ScheduledExecutorService scheduler;

  private BerthClient(ClientOptions options) {
    this.options = options;
    this.scheduler = Executors.newSingleThreadScheduledExecutor(runnable -> {
      Thread thread = new Thread(runnable, "berth-client-scheduler");
      thread.setDaemon(true);
      return thread;
    });
    ClientInterceptor auth = new TokenInterceptor();
    for (String address : options.addresses()) {
      ManagedChannel channel = channelFor(address);
      channels.add(channel);
      Channel intercepted = ClientInterceptors.intercept(channel, auth);
      blocking.add(ExecutorsGrpc.newBlockingStub(intercepted));
      async.add(ExecutorsGrpc.newStub(intercepted));
    }
  }

  /** A client for {@code options}; channels connect lazily, on the first call. */
  public static BerthClient connect(ClientOptions options) {
    return new BerthClient(options);
  }

  /** A plaintext client of one or more comma-separated addresses, with default options. */
  public static BerthClient connect(String addresses) {
    return new BerthClient(ClientOptions.builder().addresses(addresses).build());
  }

  public ClientOptions options() {
    return options;
  }

  /** The address the next call goes to first. */
  public String currentAddress() {
    return options.addresses().get(current.get());
  }

  // ---------------------------------------------------------------------------------------------
  // Executors calls
  // ---------------------------------------------------------------------------------------------

  /** Registers an application; ALREADY_EXISTS when the id is registered with another spec. */
  public Berth.Application registerApplication(Berth.RegisterApplicationRequest request) {
    return call(s -> s.registerApplication(request));
  }

  /** Sets the absolute totals per profile; returns at once, launches follow. */
  public Berth.RequestTotalExecutorsResponse requestTotalExecutors(Berth.RequestTotalExecutorsRequest request) {
    return call(s -> s.requestTotalExecutors(request));
  }

  /** Absolute totals per profile id, without locality hints. */
  public Berth.RequestTotalExecutorsResponse requestTotalExecutors(String appId, Map<Integer, Integer> totals) {
    return requestTotalExecutors(
        Berth.RequestTotalExecutorsRequest.newBuilder().setAppId(appId).putAllTotals(totals).build());
  }

  public Berth.KillExecutorsResponse killExecutors(String appId, List<Long> ids, boolean adjustTarget, boolean force) {
    Berth.KillExecutorsRequest request = Berth.KillExecutorsRequest.newBuilder()
        .setAppId(appId).addAllExecutorIds(ids).setAdjustTarget(adjustTarget).setForce(force).build();
    return call(s -> s.killExecutors(request));
  }

  public Berth.DecommissionExecutorsResponse decommissionExecutors(
      String appId, List<Long> ids, Duration grace, boolean adjustTarget) {
    Berth.DecommissionExecutorsRequest request = Berth.DecommissionExecutorsRequest.newBuilder()
        .setAppId(appId).addAllExecutorIds(ids).setGraceSeconds(grace.toSeconds())
        .setAdjustTarget(adjustTarget).build();
    return call(s -> s.decommissionExecutors(request));
  }

  public Berth.Application getApplication(String appId) {
    Berth.GetApplicationRequest request = Berth.GetApplicationRequest.newBuilder().setAppId(appId).build();
    return call(s -> s.getApplication(request));
  }

  /** The application's executors, optionally only those in {@code states}. */
  public Berth.ListExecutorsResponse listExecutors(String appId, Berth.ExecutorState... states) {
    Berth.ListExecutorsRequest request = Berth.ListExecutorsRequest.newBuilder()
        .setAppId(appId).addAllStates(List.of(states)).build();
    return call(s -> s.listExecutors(request));
  }

  public Berth.KeepAliveResponse keepAlive(String appId) {
    Berth.KeepAliveRequest request = Berth.KeepAliveRequest.newBuilder().setAppId(appId).build();
    return call(s -> s.keepAlive(request));
  }

  /** Ends the application: berthd kills its executors. */
  public void unregisterApplication(String appId, String reason) {
    Berth.UnregisterApplicationRequest request =
        Berth.UnregisterApplicationRequest.newBuilder().setAppId(appId).setReason(reason).build();
    call(s -> s.unregisterApplication(request));
  }

  // ---------------------------------------------------------------------------------------------
  // Watch and lease
  // ---------------------------------------------------------------------------------------------

  /**
   * Streams events of {@code appId} (empty: every application the caller may see) from
   * {@code fromRevision} (0: a snapshot of now first) to {@code listener}, resuming after the
   * last revision seen whenever the stream breaks; see {@link EventWatch}.
   */
  public EventWatch watch(String appId, long fromRevision, WatchListener listener) {
    EventWatch watch = new EventWatch(this, appId, fromRevision, listener);
    watch.start();
    return watch;
  }

  /**
   * Calls KeepAlive for {@code appId} every {@code interval} until the returned handle is
   * closed. A failed call is reported to {@code onFailure} (may be null) and tried again at the
   * next tick: the lease lapses only when berthd stays unreachable for its whole TTL.
   */
  public AutoCloseable keepLease(String appId, Duration interval, Consumer<StatusRuntimeException> onFailure) {
    var future = scheduler.scheduleWithFixedDelay(() -> {
      try {
        keepAlive(appId);
      } catch (StatusRuntimeException e) {
        if (onFailure != null) onFailure.accept(e);
      }
    }, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
    return () -> future.cancel(false);
  }

  @Override
  public void close() {
    scheduler.shutdownNow();
    for (ManagedChannel channel : channels) channel.shutdownNow();
    for (ManagedChannel channel : channels) {
      try {
        channel.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Internals shared with EventWatch
  // ---------------------------------------------------------------------------------------------

  ScheduledExecutorService scheduler() {
    return scheduler;
  }

  int currentIndex() {
    return current.get();
  }

  ExecutorsGrpc.ExecutorsStub asyncStub(int index) {
    return async.get(index);
  }

  /** After UNAVAILABLE from the channel at {@code index}: later calls go to the next address. */
  void failOver(int index) {
    current.compareAndSet(index, (index + 1) % channels.size());
  }

  /** The backoff before attempt {@code attempt} + 1 (attempt >= 1): exponential, half jitter. */
  Duration backoff(int attempt) {
    long initial = options.initialBackoff().toMillis();
    long max = options.maxBackoff().toMillis();
    long exp = Math.min(max, initial << Math.min(attempt - 1, 20));
    long half = Math.max(1, exp / 2);
    return Duration.ofMillis(half + ThreadLocalRandom.current().nextLong(half + 1));
  }

  private <T> T call(Function<ExecutorsGrpc.ExecutorsBlockingStub, T> rpc) {
    Deadline deadline = Deadline.after(options.callTimeout().toMillis(), TimeUnit.MILLISECONDS);
    int addresses = channels.size();
    int round = 0;
    for (int attempt = 1; ; ++attempt) {
      int index = current.get();
      try {
        return rpc.apply(blocking.get(index).withDeadline(deadline));
      } catch (StatusRuntimeException e) {
        if (e.getStatus().getCode() != Status.Code.UNAVAILABLE || attempt >= options.maxAttempts()
            || deadline.isExpired()) {
          throw e;
        }
        failOver(index);
        // Each address once without waiting; then back off before the next round.
        if (attempt % addresses == 0) {
          ++round;
          long wait = Math.min(backoff(round).toMillis(), deadline.timeRemaining(TimeUnit.MILLISECONDS));
          try {
            Thread.sleep(Math.max(0, wait));
          } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
            throw Status.CANCELLED.withDescription("interrupted while backing off").asRuntimeException();
          }
        }
      }
    }
  }

  private ManagedChannel channelFor(String address) {
    NettyChannelBuilder builder = NettyChannelBuilder.forTarget(address);
    if (options.tls()) {
      try {
        SslContextBuilder ssl = GrpcSslContexts.forClient();
        if (options.caFile() != null) ssl.trustManager(options.caFile().toFile());
        if (options.certFile() != null) ssl.keyManager(options.certFile().toFile(), options.keyFile().toFile());
        builder.sslContext(ssl.build()).useTransportSecurity();
      } catch (IOException e) {
        throw new UncheckedIOException("cannot set up TLS for " + address, e);
      } catch (UnsupportedOperationException e) {
        // Debian's netty has no ALPN in its JDK provider: gRPC over TLS needs OpenSSL's.
        throw new IllegalStateException("TLS for " + address + " needs netty-tcnative (OpenSSL) on the classpath: "
            + "add berth-tcnative.jar (built beside berth-client.jar) and Debian's netty-tcnative.jar", e);
      }
      if (options.authority() != null) builder.overrideAuthority(options.authority());
    } else {
      builder.usePlaintext();
    }
    return builder.build();
  }

  private String bearerToken() {
    if (options.token() != null) return options.token();
    if (options.tokenFile() == null) return null;
    try {
      return Files.readString(options.tokenFile(), StandardCharsets.UTF_8).strip();
    } catch (IOException e) {
      throw Status.UNAUTHENTICATED.withDescription("cannot read token file " + options.tokenFile() + ": " + e)
          .asRuntimeException();
    }
  }

  /** Adds "authorization: Bearer <token>" to every call when a token is configured. */
  private final class TokenInterceptor implements ClientInterceptor {
    @Override
    public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
        MethodDescriptor<ReqT, RespT> method, CallOptions callOptions, Channel next) {
      return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, callOptions)) {
        @Override
        public void start(Listener<RespT> listener, Metadata headers) {
          String token = bearerToken();
          if (token != null) headers.put(AUTHORIZATION, "Bearer " + token);
          super.start(listener, headers);
        }
      };
    }
  }
}
