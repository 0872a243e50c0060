import Foundation
import Kubernetes
import Logging
import Testing
import TestSupport
import Wire
@testable import NodeAgent

/// The GPU collector against the fake NVML (a C library built by the tests, loaded by path
/// with dlopen as the real one is), and the join of GPU processes to containers.
@Suite("GPUs through NVML")
struct GPUCollectorTests {
    /// Two GPUs and a MIG instance: a pod's process (4242, the web container of the join
    /// scenario), a host process (1), a process that exited before the agent looked (999999),
    /// and utilization samples for 4242 and 1.
    static let script = """
        device GPU-0a1b2c3d-0000-1111-2222-333344445555 42949672960 8589934592 87 40 250000 71 NVIDIA A100-SXM4-40GB
        device GPU-9f8e7d6c-0000-1111-2222-333344445555 42949672960 0 0 0 60000 35 NVIDIA A100-SXM4-40GB
        device MIG-5b3f1a2e-aaaa-bbbb-cccc-ddddeeeeffff 5368709120 1073741824 30 10 0 0 NVIDIA A100-SXM4-40GB MIG 1g.5gb
        process 0 4242 6442450944
        process 0 1 1073741824
        process 0 999999 1073741824
        process 2 4243 1073741824
        sample 0 4242 1000 80
        sample 0 4242 2000 90
        sample 0 1 2000 5
        sample 2 4243 1500 30
        """

    static func collector(_ nvml: FakeNVML) -> GPUCollector {
        GPUCollector(libraryPath: nvml.libraryPath, logger: Logger(label: "test"))
    }

    @Test func devicesProcessesAndUtilizationFromTheLibrary() throws {
        let nvml = try FakeNVML(script: Self.script)
        defer { nvml.remove() }
        let collector = Self.collector(nvml)
        let scan = try #require(try collector.scan())
        #expect(scan.errors.isEmpty)
        #expect(scan.devices.map(\.uuid) == ["GPU-0a1b2c3d-0000-1111-2222-333344445555", "GPU-9f8e7d6c-0000-1111-2222-333344445555",
                                             "MIG-5b3f1a2e-aaaa-bbbb-cccc-ddddeeeeffff"])
        let first = scan.devices[0]
        #expect(first.index == 0 && first.name == "NVIDIA A100-SXM4-40GB")
        #expect(first.memoryTotalBytes == 40 << 30 && first.memoryUsedBytes == 8 << 30)
        #expect(first.gpuPercent == 87 && first.memoryPercent == 40)
        #expect(first.powerMilliwatts == 250_000 && first.temperatureCelsius == 71)
        #expect(first.processes.map(\.pid) == [4242, 1, 999_999])
        #expect(first.processes[0].memoryUsedBytes == 6 << 30)
        // The mean of the samples since the last look: (80 + 90) / 2.
        #expect(first.processes[0].smPercent == 85)
        #expect(first.processes[1].smPercent == 5)
        #expect(first.processes[2].smPercent == nil, "no samples for it")
        #expect(scan.devices[2].name == "NVIDIA A100-SXM4-40GB MIG 1g.5gb")

        // A second look finds no newer samples: no SM figure rather than the old one again.
        let again = try #require(try collector.scan())
        #expect(again.devices[0].processes[0].smPercent == nil)
        #expect(again.devices[0].processes[0].memoryUsedBytes == 6 << 30)
        try nvml.write(script: Self.script + "\nsample 0 4242 3000 20\n")
        let third = try #require(try collector.scan())
        #expect(third.devices[0].processes[0].smPercent == 20)
    }

    @Test func aFailingCallLeavesOnlyItsFigureOut() throws {
        let nvml = try FakeNVML(script: Self.script + "\nfail nvmlDeviceGetTemperature 0 15\nfail nvmlDeviceGetComputeRunningProcesses_v3 1 999\n")
        defer { nvml.remove() }
        let scan = try #require(try Self.collector(nvml).scan())
        #expect(scan.devices.count == 3)
        #expect(scan.devices[0].temperatureCelsius == nil)
        #expect(scan.devices[0].memoryUsedBytes == 8 << 30 && scan.devices[0].processes.count == 3)
        #expect(scan.devices[1].temperatureCelsius == 35)
        #expect(scan.errors == [
            "GPU 0 (GPU-0a1b2c3d-0000-1111-2222-333344445555): nvmlDeviceGetTemperature failed: GPU is lost (NVML error 15)",
            "GPU 1 (GPU-9f8e7d6c-0000-1111-2222-333344445555): nvmlDeviceGetComputeRunningProcesses_v3 failed: Unknown Error (NVML error 999)",
        ])
    }

    @Test func aDeviceWhoseHandleFailsIsSkippedAndSaid() throws {
        let nvml = try FakeNVML(script: Self.script + "\nfail nvmlDeviceGetHandleByIndex_v2 1 15\n")
        defer { nvml.remove() }
        let scan = try #require(try Self.collector(nvml).scan())
        #expect(scan.devices.map(\.index) == [0, 2])
        #expect(scan.errors == ["GPU 1: nvmlDeviceGetHandleByIndex_v2 failed: GPU is lost (NVML error 15)"])
    }

    @Test func withoutTheOptionalProcessUtilizationThereIsNoSMFigureAndNoError() throws {
        let nvml = try FakeNVML(.withoutProcessUtilization, script: Self.script)
        defer { nvml.remove() }
        let scan = try #require(try Self.collector(nvml).scan())
        #expect(scan.errors.isEmpty)
        #expect(scan.devices[0].processes.map(\.smPercent) == [nil, nil, nil])
        #expect(scan.devices[0].memoryUsedBytes == 8 << 30)
        let library = try NVML(path: nvml.libraryPath)
        #expect(library.missingOptional == ["nvmlDeviceGetProcessUtilization"])
    }

    @Test func aLibraryWithoutARequiredFunctionIsACollectorError() throws {
        let nvml = try FakeNVML(.withoutMemoryInfo, script: Self.script)
        defer { nvml.remove() }
        #expect(throws: NVML.LoadError.missingSymbol(path: nvml.libraryPath, symbol: "nvmlDeviceGetMemoryInfo")) { try NVML(path: nvml.libraryPath) }
        let collector = Self.collector(nvml)
        #expect(collector.availability() == .failed("NVML library \(nvml.libraryPath) lacks nvmlDeviceGetMemoryInfo"))
        do {
            _ = try collector.scan()
            Issue.record("expected the collector to fail")
        } catch {
            #expect(error.description == "NVML library \(nvml.libraryPath) lacks nvmlDeviceGetMemoryInfo")
        }
    }

    @Test func noLibraryOrNoDriverOrNoDeviceIsANodeWithoutGPUs() throws {
        let missing = GPUCollector(libraryPath: "/nonexistent/libnvidia-ml.so.1", logger: Logger(label: "test"))
        #expect(try missing.scan() == nil)
        #expect(missing.availability() == .none)

        let noDriver = try FakeNVML(script: "init 9\n")
        defer { noDriver.remove() }
        #expect(try Self.collector(noDriver).scan() == nil)

        let noDevice = try FakeNVML(script: "")
        defer { noDevice.remove() }
        #expect(try Self.collector(noDevice).scan() == nil)

        // Any other failure of nvmlInit_v2 is an error, with NVML's message.
        let broken = try FakeNVML(script: "init 15\n")
        defer { broken.remove() }
        #expect(Self.collector(broken).availability() == .failed("nvmlInit_v2 failed: GPU is lost (NVML error 15)"))
    }

    @Test func aLibraryThatAppearsLaterIsLoadedAtTheNextRetry() throws {
        let nvml = try FakeNVML(script: Self.script)
        defer { nvml.remove() }
        let later = nvml.libraryPath + ".later"
        try FileManager.default.moveItem(atPath: nvml.libraryPath, toPath: later)
        let collector = GPUCollector(libraryPath: nvml.libraryPath, logger: Logger(label: "test"), retryLoadEvery: .seconds(60))
        let start = ContinuousClock.now
        #expect(collector.availability(now: start) == .none)
        try FileManager.default.moveItem(atPath: later, toPath: nvml.libraryPath)
        #expect(collector.availability(now: start + .seconds(30)) == .none, "not looked for again before the retry interval")
        #expect(collector.availability(now: start + .seconds(61)) == .ready)
    }

    @Test func gpuProcessesJoinTheirContainersAndHostProcessesStayTheNodes() throws {
        let nvml = try FakeNVML(script: Self.script)
        defer { nvml.remove() }
        var o = try JoinScenario.observation()
        o.gpus = try Self.collector(nvml).scan()
        let web = try #require(o.pods?.firstIndex { $0.uid == JoinScenario.webUID })
        o.pods![web].containers[0].limits["nvidia.com/gpu"] = Quantity("1")
        o.pods![web].containers[0].requests["nvidia.com/mig-1g.5gb"] = Quantity("2")
        o.pods![web].containers[0].requests["example.com/foo"] = Quantity("3")
        let batch = JoinScenario.builder.build(o, sequence: 1)

        #expect(batch.node.gpus.count == 3)
        let gpu0 = batch.node.gpus[0]
        #expect(gpu0.uuid == "GPU-0a1b2c3d-0000-1111-2222-333344445555" && gpu0.memoryUsedBytes == 8 << 30)
        #expect(gpu0.gpuUtilizationPercent == 87 && gpu0.powerMilliwatts == 250_000 && gpu0.temperatureCelsius == 71)
        // pid 1 is the host's; 999999 is in no container the scan knows: the node's too.
        #expect(gpu0.hostProcesses.map(\.pid) == [1, 999_999])
        #expect(gpu0.hostProcesses[0].smUtilizationPercent == 5)

        let pod = try #require(batch.pods.first { $0.uid == JoinScenario.webUID })
        let container = try #require(pod.containers.first)
        #expect(container.gpuRequests.map { "\($0.name)=\($0.count)" } == ["nvidia.com/gpu=1", "nvidia.com/mig-1g.5gb=2"])
        #expect(container.gpus.map(\.deviceUuid) == ["GPU-0a1b2c3d-0000-1111-2222-333344445555", "MIG-5b3f1a2e-aaaa-bbbb-cccc-ddddeeeeffff"])
        #expect(container.gpus[0].memoryUsedBytes == 6 << 30)
        #expect(container.gpus[0].smUtilizationPercent == 85)
        #expect(container.gpus[0].processes.map(\.pid) == [4242])
        #expect(container.gpus[1].memoryUsedBytes == 1 << 30 && container.gpus[1].smUtilizationPercent == 30)
        #expect(batch.node.gpus[2].hostProcesses.isEmpty)

        // The hand decoder reads the new fields as swift-protobuf does.
        let bytes: [UInt8] = try batch.serializedBytes()
        #expect(BatchDecoding.batch(bytes) == batch)
    }

    @Test func migProfilesCountAsTheirShareOfAGPU() {
        #expect(GPUResource.gpuFraction("nvidia.com/gpu") == 1)
        #expect(GPUResource.gpuFraction("amd.com/gpu") == 1)
        #expect(GPUResource.gpuFraction("nvidia.com/mig-1g.5gb") == 1.0 / 7)
        #expect(GPUResource.gpuFraction("nvidia.com/mig-3g.20gb") == 3.0 / 7)
        #expect(GPUResource.gpuFraction("nvidia.com/mig-7g.80gb") == 1)
        #expect(GPUResource.gpuFraction("nvidia.com/mig-1c.3g.20gb") == 1.0 / 7)
        #expect(GPUResource.gpuFraction("nvidia.com/mig-2g.12gb") == 2.0 / 4, "A30: four slices of 6 GB")
        #expect(GPUResource.gpuFraction("nvidia.com/mig-strange") == 1, "an unknown profile is never counted as less")
        #expect(GPUResource.isGPU("nvidia.com/mig-1g.5gb") && GPUResource.isGPU("nvidia.com/gpu") && !GPUResource.isGPU("example.com/foo"))
    }
}
