import Kubernetes
import Testing
@testable import NodeAgent

/// The tracer feed's decoding on its own (the end-to-end tests read it through the socket).
@Suite struct TracerFeedTests {
    @Test func decodesARowAndTakesFeedValuesOutOfRangeAsUnknown() throws {
        let feed = """
            {"connections":[
              {"pid":42,"type":1,"net_ns":4026532100,"source":"10.0.0.1","dest":"10.0.0.2","sport":8080,"dport":53,
               "direction":2,"monotonic_sent_bytes":18446744073709551615,"monotonic_recv_bytes":7,"rtt":120,"rtt_var":5000000000},
              {"pid":4294967297,"type":18446744073709551615,"direction":18446744073709551615,"source":"::1","dest":"::1","sport":70000}
            ]}
            """
        let rows = try TracerConnection.decodeList(Array(feed.utf8))
        #expect(rows.count == 2)
        #expect(rows[0].pid == 42 && rows[0].kind == .udp && rows[0].direction == .outgoing)
        #expect(rows[0].sentBytes == UInt64.max && rows[0].recvBytes == 7)
        #expect(rows[0].rttMicros == 120 && rows[0].rttVarMicros == UInt32.max)
        #expect(rows[0].local == IPAddress("10.0.0.1") && rows[0].remotePort == 53)
        // Found by fuzzing: a type or direction beyond Int's range trapped the agent.
        #expect(rows[1].kind == .tcp && rows[1].direction == .unknown)
        #expect(rows[1].pid == 1 && rows[1].localPort == 4464)
    }

    @Test func anAddressThatDoesNotParseIsAnErrorNamingItsOffset() {
        let feed = #"{"connections":[{"source":"10.0.0.300"}]}"#
        #expect(throws: JSONError.self) { try TracerConnection.decodeList(Array(feed.utf8)) }
        do { _ = try TracerConnection.decodeList(Array(feed.utf8)) } catch {
            #expect("\(error)".contains("expected an IP address, found \"10.0.0.300\""))
        }
    }
}
