/// The extended resources that are GPUs, as containers request them, and how much of a whole
/// GPU one unit of each is (for the accounting's GPU-hours).
public enum GPUResource {
    /// `nvidia.com/gpu` (and its time-sliced `nvidia.com/gpu.shared`), `nvidia.com/mig-<profile>`,
    /// `amd.com/gpu`, Intel's `gpu.intel.com/i915` and `gpu.intel.com/xe`.
    public static func isGPU(_ name: String) -> Bool {
        name == "nvidia.com/gpu" || name == "nvidia.com/gpu.shared" || name.hasPrefix("nvidia.com/mig-")
            || name == "amd.com/gpu" || name == "gpu.intel.com/i915" || name == "gpu.intel.com/xe"
    }

    /// One unit's share of a whole GPU. A whole device is 1. A MIG profile is its compute
    /// slices over the GPU's: `nvidia.com/mig-<g>g.<memory>gb` (a GPU instance) and
    /// `nvidia.com/mig-<c>c.<g>g.<memory>gb` (a compute instance of c slices) are g/7 and c/7,
    /// as A100, H100, H200 and B200 have seven slices; A30's profiles (`1g.6gb`, `2g.12gb`,
    /// `4g.24gb`: 6 GB a slice) are g/4, as A30 has four. A profile that does not parse
    /// counts as a whole GPU (never less than what was held).
    public static func gpuFraction(_ name: String) -> Double {
        guard name.hasPrefix("nvidia.com/mig-") else { return 1 }
        let parts = name.dropFirst("nvidia.com/mig-".count).split(separator: ".")
        var compute: Int?
        var instance: Int?
        var memoryGB: Int?
        for part in parts {
            if part.hasSuffix("gb"), let n = Int(part.dropLast(2)) { memoryGB = n }
            else if part.hasSuffix("g"), let n = Int(part.dropLast()) { instance = n }
            else if part.hasSuffix("c"), let n = Int(part.dropLast()) { compute = n }
            else { return 1 }
        }
        guard let g = instance, g > 0, let memory = memoryGB else { return 1 }
        let slices = memory == 6 * g ? 4 : 7
        let used = compute ?? g
        guard used > 0, used <= slices, g <= slices else { return 1 }
        return Double(used) / Double(slices)
    }
}
