#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer's driver, called from a target's own `main` (the stack is instrumented with
/// -sanitize=address -sanitize-coverage=... and linked with libFuzzer's no-main archive,
/// because SwiftPM gives every executable a `main` of its own).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

nonisolated(unsafe) private var target: ([UInt8]) -> Void = { _ in }

/// Runs libFuzzer with the process's arguments, handing every input to `body`.
public func fuzz(_ body: @escaping ([UInt8]) -> Void) -> Never {
    target = body
    // One run before libFuzzer starts counting: the Swift runtime's one-time caches (generic
    // metadata, protocol conformances) are allocated on a path's first use and never freed,
    // which LeakSanitizer has reported as a leak of the first input (CI, once: 88 bytes in 2
    // allocations on the empty input, not reproducible locally).
    body([])
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        target(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
        return 0
    })
}
