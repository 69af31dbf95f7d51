"""Bearer tokens the service accepts, for the harnesses that run it in JWT
mode (the contract fuzzing, the overload benchmark): an RSA key made here,
served as a JWKS, and Cognito-shaped access tokens signed with it."""

import base64
import http.server
import json
import threading
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "https://issuer.contract.test"
AUDIENCE = "contract-client"
KID = "contract-key"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @staticmethod
    def settings(jwks_url: str) -> dict:
        """The service's environment for trusting this signer's tokens."""
        return {"AUTH_MODE": "jwt", "AUTH_ISSUER": ISSUER, "AUTH_JWKS_URL": jwks_url, "AUTH_AUDIENCE": AUDIENCE}

    def jwks(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        as_bytes = lambda n: n.to_bytes((n.bit_length() + 7) // 8, "big")  # noqa: E731
        jwk = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": KID,
               "n": b64url(as_bytes(numbers.n)), "e": b64url(as_bytes(numbers.e))}
        return json.dumps({"keys": [jwk]}).encode()

    def token(self, username: str, groups: list[str]) -> str:
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": KID}
        claims = {"iss": ISSUER, "client_id": AUDIENCE, "token_use": "access", "sub": f"sub-of-{username}",
                  "username": username, "cognito:groups": groups,
                  "iat": now, "exp": now + 3600}
        signing_input = ".".join(b64url(json.dumps(part).encode()) for part in (header, claims))
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"


def serve_jwks(body: bytes) -> str:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
