package berth.spark;

import berth.client.ClientOptions;
import berth.v1.Berth;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The plug-in's configuration, read from Spark's conf (a plain map of {@code spark.*} keys) and
 * the master URL. Every {@code spark.berth.*} key, its default and meaning is listed in
 * {@link #KEYS} (and in the README).
 */
public final class BerthConf {
  /** {key, default, meaning}: the documented keys. */
  public static final String[][] KEYS = {
      {"spark.berth.pools", "(the tenant's default pools)", "Comma-separated pools, in order of preference"},
      {"spark.berth.tenant", "(the token's tenant)", "Tenant the application is registered under"},
      {"spark.berth.tokenFile", "(none)", "File holding the bearer token (re-read on every call)"},
      {"spark.berth.tls.enabled", "false", "Talk TLS to berthd (implied by caFile or certFile)"},
      {"spark.berth.tls.caFile", "(system CAs)", "CA that signed berthd's certificate (PEM)"},
      {"spark.berth.tls.certFile", "(none)", "Client certificate for mutual TLS (PEM)"},
      {"spark.berth.tls.keyFile", "(none)", "Its private key (PEM, PKCS#8)"},
      {"spark.berth.tls.authority", "(the address's host)", "Name to verify in berthd's certificate"},
      {"spark.berth.leaseTtl", "60s", "Lease: berthd kills the executors when the driver is silent this long"},
      {"spark.berth.keepAliveInterval", "(leaseTtl / 3)", "How often the driver renews its lease"},
      {"spark.berth.callTimeout", "30s", "Deadline of each call to berthd, retries included"},
      {"spark.berth.callAttempts", "5", "Attempts per call while berthd is UNAVAILABLE (backoff between)"},
      {"spark.berth.decommission.grace", "0s", "Force-kill a decommissioning executor after this (0: berthd's default)"},
      {"spark.berth.executor.image", "(spark.kubernetes.executor.container.image, then spark.kubernetes.container.image)",
          "Container image of the executors (container backends)"},
      {"spark.berth.executor.command", "(none)", "Comma-separated executor command (the process on the local backend)"},
      {"spark.berth.executor.args", "(none)", "Comma-separated arguments after the command"},
      {"spark.berth.executor.env.<NAME>", "", "Executor environment, on top of spark.executorEnv.<NAME>"},
      {"spark.berth.executor.label.<key>", "", "Label on every executor's backend object"},
      {"spark.berth.executor.annotation.<key>", "", "Annotation on every executor's backend object"},
      {"spark.berth.driver.pod.namespace / .name / .uid", "(none)",
          "The driver's pod, so Kubernetes executors get an ownerReference to it"},
  };

  final List<String> addresses;
  final ClientOptions clientOptions;
  final List<String> pools;
  final String tenant;
  final Duration leaseTtl;
  final Duration keepAliveInterval;
  final Duration decommissionGrace;
  final Berth.LaunchSpec launch;
  final Berth.DriverPod driverPod;

  private BerthConf(String masterUrl, Map<String, String> conf) {
    addresses = addressesOf(masterUrl);
    ClientOptions.Builder options = ClientOptions.builder().addresses(addresses)
        .callTimeout(duration(conf, "spark.berth.callTimeout", "30s"))
        .retries(Integer.parseInt(conf.getOrDefault("spark.berth.callAttempts", "5")),
                 Duration.ofMillis(100), Duration.ofSeconds(5));
    if (Boolean.parseBoolean(conf.getOrDefault("spark.berth.tls.enabled", "false"))) options.tls(true);
    String ca = conf.get("spark.berth.tls.caFile");
    if (ca != null && !ca.isEmpty()) options.caFile(Path.of(ca));
    String cert = conf.get("spark.berth.tls.certFile");
    String key = conf.get("spark.berth.tls.keyFile");
    if (cert != null && !cert.isEmpty()) options.clientCertificate(Path.of(cert), key == null ? null : Path.of(key));
    String authority = conf.get("spark.berth.tls.authority");
    if (authority != null && !authority.isEmpty()) options.authority(authority);
    String tokenFile = conf.get("spark.berth.tokenFile");
    if (tokenFile != null && !tokenFile.isEmpty()) options.tokenFile(Path.of(tokenFile));
    clientOptions = options.build();

    pools = list(conf.get("spark.berth.pools"));
    tenant = conf.getOrDefault("spark.berth.tenant", "");
    leaseTtl = duration(conf, "spark.berth.leaseTtl", "60s");
    String keepAlive = conf.get("spark.berth.keepAliveInterval");
    keepAliveInterval = keepAlive != null ? parseDuration(keepAlive) : leaseTtl.dividedBy(3);
    decommissionGrace = duration(conf, "spark.berth.decommission.grace", "0s");

    Berth.LaunchSpec.Builder spec = Berth.LaunchSpec.newBuilder();
    String image = firstSet(conf, "spark.berth.executor.image", "spark.kubernetes.executor.container.image",
                            "spark.kubernetes.container.image");
    if (image != null) spec.setImage(image);
    spec.addAllCommand(list(conf.get("spark.berth.executor.command")));
    spec.addAllArgs(list(conf.get("spark.berth.executor.args")));
    for (Map.Entry<String, String> e : conf.entrySet()) {
      String k = e.getKey();
      if (k.startsWith("spark.executorEnv.")) spec.putEnv(k.substring("spark.executorEnv.".length()), e.getValue());
    }
    for (Map.Entry<String, String> e : conf.entrySet()) {
      String k = e.getKey();
      if (k.startsWith("spark.berth.executor.env.")) spec.putEnv(k.substring("spark.berth.executor.env.".length()), e.getValue());
      if (k.startsWith("spark.berth.executor.label.")) spec.putLabels(k.substring("spark.berth.executor.label.".length()), e.getValue());
      if (k.startsWith("spark.berth.executor.annotation.")) {
        spec.putAnnotations(k.substring("spark.berth.executor.annotation.".length()), e.getValue());
      }
    }
    launch = spec.build();
    String podName = conf.get("spark.berth.driver.pod.name");
    driverPod = podName == null || podName.isEmpty() ? null : Berth.DriverPod.newBuilder()
        .setName(podName)
        .setNamespace(conf.getOrDefault("spark.berth.driver.pod.namespace", ""))
        .setUid(conf.getOrDefault("spark.berth.driver.pod.uid", ""))
        .build();
  }

  public static BerthConf of(String masterUrl, Map<String, String> sparkConf) {
    return new BerthConf(masterUrl, sparkConf);
  }

  /** True for the master URLs the plug-in serves: {@code berth://host:port[,host:port...]}. */
  public static boolean accepts(String masterUrl) {
    return masterUrl != null && masterUrl.startsWith("berth://");
  }

  /** The daemon addresses of {@code berth://host:port[,host:port...]}. */
  public static List<String> addressesOf(String masterUrl) {
    if (!accepts(masterUrl)) {
      throw new IllegalArgumentException("not a Berth master URL (berth://host:port[,host:port]): " + masterUrl);
    }
    List<String> result = list(masterUrl.substring("berth://".length()).replaceAll("/+$", ""));
    if (result.isEmpty()) throw new IllegalArgumentException("no address in master URL " + masterUrl);
    for (String address : result) {
      int colon = address.lastIndexOf(':');
      if (colon <= 0 || !address.substring(colon + 1).matches("[0-9]{1,5}")) {
        throw new IllegalArgumentException("address " + address + " of " + masterUrl + " is not host:port");
      }
    }
    return result;
  }

  public List<String> addresses() { return addresses; }
  public ClientOptions clientOptions() { return clientOptions; }
  public List<String> pools() { return pools; }
  public Duration leaseTtl() { return leaseTtl; }
  public Duration keepAliveInterval() { return keepAliveInterval; }
  public Berth.LaunchSpec launch() { return launch; }

  static List<String> list(String value) {
    List<String> result = new ArrayList<>();
    if (value == null) return result;
    for (String item : value.split(",")) {
      if (!item.trim().isEmpty()) result.add(item.trim());
    }
    return result;
  }

  private static String firstSet(Map<String, String> conf, String... keys) {
    for (String key : keys) {
      String value = conf.get(key);
      if (value != null && !value.isEmpty()) return value;
    }
    return null;
  }

  private static Duration duration(Map<String, String> conf, String key, String fallback) {
    return parseDuration(conf.getOrDefault(key, fallback));
  }

  /** Spark's time strings: "500ms", "30s", "5m", "1h"; a bare number is seconds. */
  static Duration parseDuration(String text) {
    String t = text.trim().toLowerCase(Locale.ROOT);
    if (t.endsWith("ms")) return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
    if (t.endsWith("s")) return Duration.ofSeconds(Long.parseLong(t.substring(0, t.length() - 1)));
    if (t.endsWith("m")) return Duration.ofMinutes(Long.parseLong(t.substring(0, t.length() - 1)));
    if (t.endsWith("h")) return Duration.ofHours(Long.parseLong(t.substring(0, t.length() - 1)));
    return Duration.ofSeconds(Long.parseLong(t));
  }
}
