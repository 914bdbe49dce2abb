package berth.client;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Test certificates made with openssl: a CA, a server certificate for 127.0.0.1, a client one. */
public final class Certificates {
  private Certificates() {}

  private static void openssl(Path dir, String... args) throws IOException, InterruptedException {
    List<String> argv = new ArrayList<>(List.of("openssl"));
    argv.addAll(List.of(args));
    Process p = new ProcessBuilder(argv).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    if (p.waitFor() != 0) throw new IOException("openssl " + String.join(" ", args) + " failed: " + out);
  }

  /** ca.pem, server.pem/.key (127.0.0.1, localhost), client.pem/.key in {@code dir}. */
  public static void make(Path dir) throws IOException, InterruptedException {
    String[] ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
    List<String> ca = new ArrayList<>(List.of("req", "-x509"));
    ca.addAll(List.of(ec));
    ca.addAll(List.of("-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=berth-test-ca"));
    openssl(dir, ca.toArray(new String[0]));
    for (String name : List.of("server", "client")) {
      String ext = name.equals("server") ? "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
                                         : "extendedKeyUsage=clientAuth\n";
      Files.writeString(dir.resolve(name + ".ext"), ext + "basicConstraints=CA:FALSE\n");
      List<String> req = new ArrayList<>(List.of("req"));
      req.addAll(List.of(ec));
      req.addAll(List.of("-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=berth-test-" + name));
      openssl(dir, req.toArray(new String[0]));
      openssl(dir, "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
              "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext");
    }
  }
}
