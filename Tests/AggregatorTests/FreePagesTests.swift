#if canImport(Glibc)
import Glibc
import Testing
@testable import Aggregator

@Suite struct FreePagesTests {
    /// Blocks freed between blocks still in use stay resident after `free` (glibc returns
    /// only a heap's top to the system) and go back with `FreePages.release()`; the blocks
    /// still in use keep their contents.
    @Test func freePagesBetweenBlocksInUseGoBackToTheSystem() throws {
        let page = sysconf(Int32(_SC_PAGESIZE))
        // 48 MiB in 32 KiB blocks (below glibc's mmap threshold: they come from a heap).
        let size = 32 * 1024, count = 1536
        let blocks = (0..<count).map { _ in malloc(size)! }
        for (index, block) in blocks.enumerated() { memset(block, Int32(index % 251) + 1, size) }
        // Every eighth kept: seven freed neighbours make one free run of ~224 KiB.
        let kept = Set(stride(from: 0, to: count, by: 8))
        for index in blocks.indices where !kept.contains(index) { free(blocks[index]) }
        let freed = blocks.indices.filter { !kept.contains($0) }.map { blocks[$0] }

        /// The share of the freed blocks' whole pages that are resident (mincore).
        func residentShare() -> Double {
            var pages = 0, resident = 0
            var vector = [UInt8](repeating: 0, count: size / page + 1)
            for block in freed {
                let address = Int(bitPattern: block)
                let first = (address + page - 1) / page * page, end = (address + size) / page * page
                guard end > first else { continue }
                let length = end - first
                let status = vector.withUnsafeMutableBufferPointer { mincore(UnsafeMutableRawPointer(bitPattern: first), length, $0.baseAddress) }
                guard status == 0 else { continue }
                pages += length / page
                resident += vector.prefix(length / page).filter { $0 & 1 == 1 }.count
            }
            return pages == 0 ? 0 : Double(resident) / Double(pages)
        }

        let before = residentShare()
        FreePages.release()
        let after = residentShare()
        #expect(before > 0.8, "freed pages in the middle of a heap stay resident until released (\(before))")
        #expect(after < 0.2, "released pages are no longer resident (\(after))")
        for index in kept.sorted() {
            let bytes = blocks[index].assumingMemoryBound(to: UInt8.self)
            #expect(bytes[0] == UInt8(index % 251 + 1) && bytes[size - 1] == UInt8(index % 251 + 1))
            free(blocks[index])
        }
    }
}
#endif
