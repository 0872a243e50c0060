import NIOCore
import NIOPosix

/// Where the agent binary runs its Swift code: on one thread.
///
/// The agent does one thing at a time (a cycle every `--interval`, a scrape now and then),
/// so more threads only cost wake-ups and stacks. By default there would be a Swift
/// Concurrency pool thread and a NIO event loop thread per core (128 on a 64-core node),
/// and every HTTP response would cross from the loop to the pool. Here NIO's singleton group
/// is one loop, and the agent's tasks prefer that loop as their executor (SE-0417), so an
/// HTTP response is handled where it arrives.
public enum AgentRuntime {
    /// Runs `body` with the one event loop as its tasks' preferred executor. Call it before
    /// anything else touches NIO's singleton group (its size is fixed at first use).
    public static func onOneThread(_ body: () async -> Void) async {
        NIOSingletons.groupLoopCountSuggestion = 1
        await run(on: MultiThreadedEventLoopGroup.singleton.next(), body)
    }

    /// Runs `body` with `loop` as its tasks' preferred executor: the task and its child
    /// tasks run there, also after a sleep or an await on another thread's work.
    static func run<T>(on loop: any EventLoop, _ body: () async throws -> T) async rethrows -> T {
        try await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) { try await body() }
    }
}

/// An event loop as a Swift Concurrency task executor: jobs run as loop tasks.
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
