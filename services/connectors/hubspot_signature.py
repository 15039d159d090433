"""HubSpot request signature v3, as documented for webhook and app requests.

HubSpot signs with HMAC-SHA256 over `method + uri + body + timestamp` keyed by the app secret,
base64-encodes the digest into `X-HubSpot-Signature-v3` and sends the timestamp (epoch
milliseconds) in `X-HubSpot-Request-Timestamp`. A receiver rejects timestamps older than five
minutes. Source: developers.hubspot.com "Validating requests" (v3 section) and the changelog
"Introducing version 3 of webhook signatures". The sandbox signs with this module and ingest
verifies with it, so both ends follow one reading of the documentation.
"""

import base64
import hashlib
import hmac
import re

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
VERSION_HEADER = "X-HubSpot-Signature-Version"
MAX_AGE_MS = 5 * 60 * 1000

# The documentation asks verifiers to decode these percent-escapes in the URI before signing;
# every other escape stays as it arrived.
_DECODED_ESCAPES = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_ESCAPE = re.compile("|".join(_DECODED_ESCAPES), re.IGNORECASE)


def canonical_uri(uri: str) -> str:
    """The URI as HubSpot hashes it: the listed percent-escapes decoded, nothing else."""
    return _ESCAPE.sub(lambda m: _DECODED_ESCAPES[m.group(0).upper()], uri)


def sign_v3(app_secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """base64(HMAC-SHA256(app_secret, method + uri + body + timestamp))."""
    message = method.upper().encode() + canonical_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(app_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_v3(
    app_secret: str,
    method: str,
    uri: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now_ms: int,
    max_age_ms: int = MAX_AGE_MS,
) -> bool:
    """True when `signature` is HubSpot's v3 signature of the request and it is fresh."""
    if not signature or not timestamp:
        return False
    try:
        sent_ms = int(timestamp)
    except ValueError:
        return False
    if now_ms - sent_ms > max_age_ms:
        return False
    expected = sign_v3(app_secret, method, uri, body, timestamp)
    return hmac.compare_digest(expected, signature)
