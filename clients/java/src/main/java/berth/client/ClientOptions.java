package berth.client;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * How a {@link BerthClient} reaches berthd: one or more addresses (tried in order, the next one
 * after UNAVAILABLE), optional TLS (server CA, client certificate for mutual TLS), an optional
 * bearer token, the deadline of each call and the retry policy for UNAVAILABLE.
 *
 * <p>Immutable; build one with {@link #builder()}. {@link #fromEnvironment()} reads the same
 * variables as berthctl: BERTH_ADDR (comma-separated addresses) and BERTH_TOKEN_FILE.
 */
public final class ClientOptions {
  public static final String DEFAULT_ADDRESS = "127.0.0.1:7433";

  private final List<String> addresses;
  private final String token;
  private final Path tokenFile;
  private final Path caFile;
  private final Path certFile;
  private final Path keyFile;
  private final String authority;
  private final boolean tls;
  private final Duration callTimeout;
  private final int maxAttempts;
  private final Duration initialBackoff;
  private final Duration maxBackoff;

  private ClientOptions(Builder b) {
    this.addresses = List.copyOf(b.addresses.isEmpty() ? List.of(DEFAULT_ADDRESS) : b.addresses);
    this.token = b.token;
    this.tokenFile = b.tokenFile;
    this.caFile = b.caFile;
    this.certFile = b.certFile;
    this.keyFile = b.keyFile;
    this.authority = b.authority;
    this.tls = b.tls || b.caFile != null || b.certFile != null;
    this.callTimeout = b.callTimeout;
    this.maxAttempts = b.maxAttempts;
    this.initialBackoff = b.initialBackoff;
    this.maxBackoff = b.maxBackoff;
    if ((certFile == null) != (keyFile == null)) {
      throw new IllegalArgumentException("certFile and keyFile go together (mutual TLS)");
    }
    if (token != null && tokenFile != null) {
      throw new IllegalArgumentException("give a token or a token file, not both");
    }
    if (maxAttempts < 1) throw new IllegalArgumentException("maxAttempts must be >= 1");
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Options from BERTH_ADDR and BERTH_TOKEN_FILE, as berthctl reads them. */
  public static ClientOptions fromEnvironment() {
    Builder b = builder();
    String addr = System.getenv("BERTH_ADDR");
    if (addr != null && !addr.isBlank()) b.addresses(addr);
    String tokenFile = System.getenv("BERTH_TOKEN_FILE");
    if (tokenFile != null && !tokenFile.isBlank()) b.tokenFile(Path.of(tokenFile));
    return b.build();
  }

  public List<String> addresses() { return addresses; }
  public String token() { return token; }
  public Path tokenFile() { return tokenFile; }
  public Path caFile() { return caFile; }
  public Path certFile() { return certFile; }
  public Path keyFile() { return keyFile; }
  /** The name to verify in the server's certificate instead of the address's host, or null. */
  public String authority() { return authority; }
  public boolean tls() { return tls; }
  /** Deadline of one call, retries included. */
  public Duration callTimeout() { return callTimeout; }
  public int maxAttempts() { return maxAttempts; }
  public Duration initialBackoff() { return initialBackoff; }
  public Duration maxBackoff() { return maxBackoff; }

  public static final class Builder {
    private final List<String> addresses = new ArrayList<>();
    private String token;
    private Path tokenFile;
    private Path caFile;
    private Path certFile;
    private Path keyFile;
    private String authority;
    private boolean tls;
    private Duration callTimeout = Duration.ofSeconds(30);
    private int maxAttempts = 5;
    private Duration initialBackoff = Duration.ofMillis(100);
    private Duration maxBackoff = Duration.ofSeconds(5);

    private Builder() {}

    /** Adds addresses: "host:port", or several separated by commas. */
    public Builder addresses(String commaSeparated) {
      for (String a : commaSeparated.split(",")) {
        String trimmed = a.trim();
        if (!trimmed.isEmpty()) addresses.add(trimmed);
      }
      return this;
    }

    public Builder addresses(List<String> list) {
      list.forEach(this::addresses);
      return this;
    }

    public Builder token(String value) { this.token = value; return this; }
    /** A file holding the token (a trailing newline ignored), re-read on every call. */
    public Builder tokenFile(Path value) { this.tokenFile = value; return this; }
    /** TLS with the system's trusted CAs (or caFile when given). */
    public Builder tls(boolean value) { this.tls = value; return this; }
    public Builder caFile(Path value) { this.caFile = value; return this; }
    public Builder clientCertificate(Path cert, Path key) {
      this.certFile = cert;
      this.keyFile = key;
      return this;
    }
    public Builder authority(String value) { this.authority = value; return this; }
    public Builder callTimeout(Duration value) {
      this.callTimeout = Objects.requireNonNull(value);
      return this;
    }
    /** Attempts per call on UNAVAILABLE (1 = no retry), with exponential backoff between them. */
    public Builder retries(int attempts, Duration initial, Duration max) {
      this.maxAttempts = attempts;
      this.initialBackoff = Objects.requireNonNull(initial);
      this.maxBackoff = Objects.requireNonNull(max);
      return this;
    }

    public ClientOptions build() {
      return new ClientOptions(this);
    }
  }
}
