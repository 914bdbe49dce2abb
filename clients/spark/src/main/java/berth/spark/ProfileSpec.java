package berth.spark;

import berth.v1.Berth;
import java.util.Map;

/**
 * What one executor of a Spark ResourceProfile needs, in plain values: the glue converts Spark's
 * {@code ResourceProfile} into this. Memory in MiB; overheadMiB 0 means max(overheadFactor x
 * heap, 384) as Spark computes it; resources maps a custom resource (e.g. "gpu") to
 * {vendor, amount}.
 */
public record ProfileSpec(int id, int cores, long heapMiB, long overheadMiB, double overheadFactor,
                          long offHeapMiB, long pysparkMiB, Map<String, Map.Entry<String, Long>> resources) {
  public static ProfileSpec of(int id, int cores, long heapMiB) {
    return new ProfileSpec(id, cores, heapMiB, 0, 0.1, 0, 0, Map.of());
  }

  Berth.ResourceProfile toProto() {
    Berth.ResourceProfile.Builder b = Berth.ResourceProfile.newBuilder().setId(id).setCores(cores)
        .setHeapMib(heapMiB).setOverheadMib(overheadMiB).setOverheadFactor(overheadFactor)
        .setOffheapMib(offHeapMiB).setPysparkMib(pysparkMiB);
    resources.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(r -> b.addResources(
        Berth.CustomResource.newBuilder().setName(r.getKey()).setVendor(r.getValue().getKey())
            .setAmount(r.getValue().getValue())));
    return b.build();
  }
}
