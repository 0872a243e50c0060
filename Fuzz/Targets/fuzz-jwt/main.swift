import FuzzDriver
import API

/// The JWT parser and verifier: any text is a principal or a refusal, never a crash.
let verifier = JWTVerifier(secret: "fuzz-secret-of-32-bytes-or-more-xx")
fuzz { bytes in _ = try? verifier.verify(String(decoding: bytes, as: UTF8.self)) }
