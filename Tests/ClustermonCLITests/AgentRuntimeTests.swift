@testable import AgentCLI
import NIOCore
import NIOPosix
import Testing

@Suite("The agent binary's one-thread runtime")
struct AgentRuntimeTests {
    /// The agent's work stays on its loop: before and after a sleep (resumed by a timer on
    /// another thread), in child tasks, and after awaiting a future the loop completes.
    @Test func tasksRunOnTheLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let placements = try await AgentRuntime.run(on: loop) { () async throws -> [Bool] in
            var placements = [loop.inEventLoop]
            try await Task.sleep(for: .milliseconds(2))
            placements.append(loop.inEventLoop)
            let children = await withTaskGroup(of: Bool.self) { children in
                for _ in 0..<4 { children.addTask { loop.inEventLoop } }
                return await children.reduce(into: [Bool]()) { $0.append($1) }
            }
            placements += children
            _ = try await loop.scheduleTask(in: .milliseconds(1)) { 1 }.futureResult.get()
            placements.append(loop.inEventLoop)
            return placements
        }
        #expect(placements == Array(repeating: true, count: 7))
        // Outside the preference, the test's task is back on the cooperative pool.
        #expect(!loop.inEventLoop)
        try await group.shutdownGracefully()
    }
}
