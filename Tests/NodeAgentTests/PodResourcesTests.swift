import Foundation
import GRPCCore
import Logging
import Messaging
import Testing
import TestSupport
@testable import NodeAgent

/// The kubelet's pod-resources API over its real protocol (gRPC on a unix socket, served by
/// grpc-swift as the kubelet would): which GPU each container was assigned.
@Suite("The kubelet's pod-resources API")
struct PodResourcesTests {
    static let assignments = [
        FakePodResources.Assignment(namespace: "compute-u1-train", pod: "train-0", container: "trainer", resource: "nvidia.com/gpu",
                                    devices: ["GPU-0a1b2c3d-0000-1111-2222-333344445555", "GPU-9f8e7d6c-0000-1111-2222-333344445555"]),
        FakePodResources.Assignment(namespace: "compute-u1-train", pod: "train-0", container: "sidecar", resource: "example.com/fpga", devices: ["fpga-0"]),
        FakePodResources.Assignment(namespace: "compute-u2-infer", pod: "infer-0", container: "model", resource: "nvidia.com/mig-1g.5gb",
                                    devices: ["MIG-5b3f1a2e-aaaa-bbbb-cccc-ddddeeeeffff"]),
    ]

    /// Generous: under the whole suite's load on two cores a call has waited more than 5 s.
    static let timeout = Duration.seconds(60)

    @Test func theGPUDevicesOfEachContainerAndNothingElse() async throws {
        let fake = FakePodResources(Self.assignments)
        try await fake.serving { socket in
            let found = try await PodResourcesClient(socketPath: socket, timeout: Self.timeout).gpuAssignments()
            #expect(found == [
                .init(namespace: "compute-u1-train", pod: "train-0", container: "trainer"):
                    ["GPU-0a1b2c3d-0000-1111-2222-333344445555", "GPU-9f8e7d6c-0000-1111-2222-333344445555"],
                .init(namespace: "compute-u2-infer", pod: "infer-0", container: "model"): ["MIG-5b3f1a2e-aaaa-bbbb-cccc-ddddeeeeffff"],
            ], "the FPGA is not a GPU")
        }
    }

    @Test func aFailingKubeletIsAnErrorThatSaysWhat() async throws {
        let fake = FakePodResources(Self.assignments)
        fake.fail(with: RPCError(code: .unavailable, message: "kubelet is restarting"))
        try await fake.serving { socket in
            do {
                _ = try await PodResourcesClient(socketPath: socket, timeout: Self.timeout).gpuAssignments()
                Issue.record("expected an error")
            } catch {
                #expect("\(error)" == "pod-resources \(socket): unavailable: kubelet is restarting")
            }
        }
        let missing = PodResourcesClient(socketPath: "/nonexistent/kubelet.sock")
        #expect(!missing.isPresent)
        await #expect(throws: PodResourcesError.self) { try await missing.gpuAssignments() }
    }

    @Test func theAgentReadsItEachCycleOnlyWhereTheSocketIs() async throws {
        let fake = FakePodResources(Self.assignments)
        try await fake.serving { socket in
            var configuration = AgentConfiguration(nodeName: "n", agentVersion: "test", interval: .seconds(3600), nvmlLibrary: nil, podResourcesSocket: socket)
            configuration.podResourcesTimeout = Self.timeout
            let agent = AgentService(configuration: configuration, bus: InProcessBus(), kubelet: nil, tracer: nil, logger: Logger(label: "test"))
            let observation = await agent.collect()
            #expect(observation.gpuAssignments?.count == 2)
            #expect(observation.collectors.first { $0.name == "pod-resources" }?.error == nil)
            #expect(observation.collectors.contains { $0.name == "pod-resources" })
            fake.fail(with: RPCError(code: .unavailable, message: "kubelet is restarting"))
            let failing = await agent.collect()
            #expect(failing.gpuAssignments == nil)
            #expect(failing.collectors.first { $0.name == "pod-resources" }?.error?.contains("kubelet is restarting") == true)
        }
        // No socket (a kubelet before 1.28, or not mounted): not read, not an error.
        let configuration = AgentConfiguration(nodeName: "n", agentVersion: "test", podResourcesSocket: "/nonexistent/kubelet.sock")
        let agent = AgentService(configuration: configuration, bus: InProcessBus(), kubelet: nil, tracer: nil, logger: Logger(label: "test"))
        let observation = await agent.collect()
        #expect(observation.gpuAssignments == nil)
        #expect(!observation.collectors.contains { $0.name == "pod-resources" })
    }

    @Test func assignedDevicesJoinTheirContainersInTheBatch() throws {
        var o = try JoinScenario.observation()
        let web = try #require(o.pods?.first { $0.uid == JoinScenario.webUID })
        o.gpuAssignments = [.init(namespace: web.namespace, pod: web.name, container: web.containers[0].name): ["GPU-a", "GPU-b"]]
        let batch = JoinScenario.builder.build(o, sequence: 1)
        let pod = try #require(batch.pods.first { $0.uid == JoinScenario.webUID })
        #expect(pod.containers[0].gpuDeviceIds == ["GPU-a", "GPU-b"])
        #expect(batch.pods.filter { $0.uid != JoinScenario.webUID }.allSatisfy { $0.containers.allSatisfy(\.gpuDeviceIds.isEmpty) })
    }
}
