import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Testing
@testable import API
@testable import Aggregator

@Suite("Identical history queries share one read")
struct SharedAnswersTests {
    /// A computation that waits until released, counting its runs.
    final class Gate: Sendable {
        let runs = Atomic<Int>(0)
        let released = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let open = Atomic<Bool>(false)
        func run(_ body: String) async throws -> Response {
            runs.add(1, ordering: .relaxed)
            await withCheckedContinuation { continuation in
                let now = released.withLock { slot -> Bool in
                    if open.load(ordering: .relaxed) { return true }
                    slot = continuation
                    return false
                }
                if now { continuation.resume() }
            }
            return Response(status: .ok, headers: [SharedAnswersTests.answerField: body])
        }
        func release() {
            open.store(true, ordering: .relaxed)
            released.withLock { $0?.resume(); $0 = nil }
        }
    }

    static let answerField = HTTPField.Name("X-Answer")!

    /// Which computation answered (the answers carry it in a header).
    static func body(_ response: Response) -> String { response.headers[answerField] ?? "" }

    @Test func queriesInFlightTogetherAreAnsweredByOneRead() async throws {
        let shared = SharedAnswers(), gate = Gate()
        let key = SharedAnswers.key("pods", .prefix("team-a/"), start: 100, end: 3700, query: ["namespace": "team-a"])
        let bodies = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<5 { group.addTask { Self.body(try await shared.answer(key) { try await gate.run("the hour") }) } }
            // Released once the other four wait for the first one's read.
            while shared.sharedCount < 4 { await Task.yield() }
            gate.release()
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(bodies == Array(repeating: "the hour", count: 5))
        #expect(gate.runs.load(ordering: .relaxed) == 1)
        // Once answered, the same query reads again (no answer is kept after its read).
        let again = Gate()
        again.release()
        _ = try await shared.answer(key) { try await again.run("later") }
        #expect(again.runs.load(ordering: .relaxed) == 1)
    }

    @Test func otherQueriesAndCallersScopedQueriesReadOnTheirOwn() async throws {
        let shared = SharedAnswers(), gate = Gate()
        gate.release()
        let keys = [
            SharedAnswers.key("pods", .prefix("team-a/"), start: 100, end: 3700, query: [:]),
            SharedAnswers.key("pods", .prefix("team-b/"), start: 100, end: 3700, query: [:]),
            SharedAnswers.key("pods", .prefix("team-a/"), start: 101, end: 3701, query: [:]),
            SharedAnswers.key("pods", .prefix("team-a/"), start: 100, end: 3700, query: ["metric": "cpu/usage"]),
            SharedAnswers.key("containers", .prefix("team-a/"), start: 100, end: 3700, query: [:]),
        ]
        #expect(Set(keys.compactMap { $0 }).count == keys.count)
        // The credentials are not part of a query's identity: two callers of one namespace share.
        #expect(SharedAnswers.key("pods", .keys(["a/web"]), start: 1, end: 2, query: ["token": "x", "pod": "web"])
                == SharedAnswers.key("pods", .keys(["a/web"]), start: 1, end: 2, query: ["token": "y", "pod": "web"]))
        // Series chosen by the caller's visibility are never shared between callers.
        #expect(SharedAnswers.key("pods", .namespaces { _ in true }, start: 1, end: 2, query: [:]) == nil)
        #expect(SharedAnswers.key("pods", .filtered(namespaces: { _ in true }, keys: { _ in true }), start: 1, end: 2, query: [:]) == nil)
        for _ in 0..<3 { _ = try await shared.answer(nil) { try await gate.run("mine") } }
        #expect(gate.runs.load(ordering: .relaxed) == 3)
        #expect(shared.sharedCount == 0)
    }

    @Test func aFailedReadFailsEveryWaiterAndTheNextQueryReadsAgain() async throws {
        struct Broken: Error {}
        let shared = SharedAnswers(), gate = Gate()
        let key = SharedAnswers.key("nodes", .all, start: 0, end: 60, query: [:])
        let failures = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    do {
                        _ = try await shared.answer(key) {
                            _ = try await gate.run("")
                            throw Broken()
                        }
                        return false
                    } catch { return error is Broken }
                }
            }
            while shared.sharedCount < 2 { await Task.yield() }
            gate.release()
            return await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(failures == 3)
        #expect(gate.runs.load(ordering: .relaxed) == 1)
        let body = Self.body(try await shared.answer(key) { try await gate.run("recovered") })
        #expect(body == "recovered")
    }
}
