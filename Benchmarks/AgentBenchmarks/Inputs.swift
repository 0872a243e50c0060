import Foundation

/// Benchmark inputs written by `Benchmarks/make_inputs.py` (run by scripts/bench.sh).
enum Inputs {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".inputs")

    static func bytes(_ name: String) -> [UInt8] {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent(name)) else {
            fatalError("missing \(name): run `python3 Benchmarks/make_inputs.py` (scripts/bench.sh does)")
        }
        return [UInt8](data)
    }
}
