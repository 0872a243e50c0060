import CZlib
import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// The web UI: hand-written ES modules, CSS and one HTML shell compiled into the binary
/// (`Web/static`, embedded by SwiftPM). `/` redirects to `/web/`; every `/web/...` path
/// answers the shell, whose script renders the page the path names (links can be shared);
/// `/web/assets/<file>` are the files. Each answer carries a strict Content-Security-Policy
/// (no inline script or style, nothing from elsewhere) and is gzip-compressed when the
/// browser accepts it, with an ETag (a 304 when the browser has it).
struct WebController {
    struct Asset: Sendable {
        var contentType: String
        var plain: [UInt8]
        var gzipped: [UInt8]
        var etag: String
    }

    static let assets: [String: Asset] = {
        let files: [(String, String, [UInt8])] = [
            ("index.html", "text/html; charset=utf-8", PackageResources.index_html),
            ("app.js", "text/javascript; charset=utf-8", PackageResources.app_js),
            ("views.js", "text/javascript; charset=utf-8", PackageResources.views_js),
            ("charts.js", "text/javascript; charset=utf-8", PackageResources.charts_js),
            ("graph.js", "text/javascript; charset=utf-8", PackageResources.graph_js),
            ("layout.js", "text/javascript; charset=utf-8", PackageResources.layout_js),
            ("rows.js", "text/javascript; charset=utf-8", PackageResources.rows_js),
            ("app.css", "text/css; charset=utf-8", PackageResources.app_css),
            ("icon.svg", "image/svg+xml", PackageResources.icon_svg),
        ]
        var assets: [String: Asset] = [:]
        for (name, type, bytes) in files {
            let digest = SHA256.hash(data: bytes).prefix(12).map { String(format: "%02x", $0) }.joined()
            assets[name] = Asset(contentType: type, plain: bytes, gzipped: gzip(bytes) ?? [], etag: "\"\(digest)\"")
        }
        return assets
    }()

    /// The policy every UI answer carries: scripts, styles, images and connections from this
    /// origin only, no plugins, no framing, no base or form targets elsewhere.
    static let contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

    static func securityHeaders(_ fields: inout HTTPFields) {
        fields[.contentSecurityPolicy] = contentSecurityPolicy
        fields[.xContentTypeOptions] = "nosniff"
        fields[.referrerPolicy] = "no-referrer"
        fields[.xFrameOptions] = "DENY"
        fields[.crossOriginOpenerPolicy] = "same-origin"
    }

    func addRoutes(to router: Router<APIContext>) {
        router.get("/") { _, _ in
            var headers: HTTPFields = [.location: "/web/"]
            Self.securityHeaders(&headers)
            return Response(status: .found, headers: headers)
        }
        router.get("/web") { request, _ in Self.answer(request, asset: "index.html") }
        router.get("/web/assets/:file") { request, context in
            let name = context.parameters.get("file") ?? ""
            guard Self.assets[name] != nil else { throw APIFailure(.notFound, "no such file: /web/assets/\(name)") }
            return Self.answer(request, asset: name)
        }
        router.head("/web/assets/:file") { request, context in
            let name = context.parameters.get("file") ?? ""
            guard Self.assets[name] != nil else { throw APIFailure(.notFound, "no such file: /web/assets/\(name)") }
            return Self.answer(request, asset: name)
        }
        // Every other page of the UI is the shell; its script reads the path.
        router.get("/web/**") { request, _ in Self.answer(request, asset: "index.html") }
        router.head("/web/**") { request, _ in Self.answer(request, asset: "index.html") }
    }

    static func answer(_ request: Request, asset name: String) -> Response {
        let asset = assets[name]!
        var headers: HTTPFields = [.contentType: asset.contentType, .eTag: asset.etag, .vary: "Accept-Encoding",
                                   // Revalidated on every load (the names carry no version): a 304 costs a round trip only.
                                   .cacheControl: "no-cache"]
        securityHeaders(&headers)
        if let tags = request.headers[.ifNoneMatch], tags.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == asset.etag }) {
            return Response(status: .notModified, headers: headers)
        }
        var body = asset.plain
        let accepts = request.headers[.acceptEncoding]?.lowercased().split(separator: ",").contains { part in
            let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            return fields.first == "gzip" && !fields.dropFirst().contains { $0.replacingOccurrences(of: " ", with: "") == "q=0" }
        } ?? false
        if accepts && !asset.gzipped.isEmpty {
            body = asset.gzipped
            headers[.contentEncoding] = "gzip"
        }
        if request.method == .head {
            headers[.contentLength] = String(body.count)
            return Response(status: .ok, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The bytes as a gzip stream; nil if zlib refuses.
    static func gzip(_ bytes: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        guard clustermon_gzip_init(&stream, 9) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 32)
        var input = bytes
        let status: Int32 = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = uInt(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = uInt(target.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { return nil }
        return Array(output.prefix(Int(stream.total_out)))
    }
}

extension HTTPField.Name {
    static let referrerPolicy = Self("Referrer-Policy")!
    static let xFrameOptions = Self("X-Frame-Options")!
    static let crossOriginOpenerPolicy = Self("Cross-Origin-Opener-Policy")!
}
