# Independent known answers for hybrid linking (authenticator-core/src/hybrid/linking_tests.rs).
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
ident = ec.derive_private_key(int('11'*32, 16), ec.SECP256R1())
browser = ec.derive_private_key(int('22'*32, 16), ec.SECP256R1())
bc = browser.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
iu = ident.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
x = ident.exchange(ec.ECDH(), browser.public_key())
hh = bytes(range(32))
h = hmac.HMAC(x, hashes.SHA256()); h.update(hh); sig = h.finalize()
print("browser_compressed", bc.hex()); print("identity_public", iu.hex()); print("signature", sig.hex())
contact = bytes([0xC0])*16; link_id = bytes([0x1D])*8; secret = bytes([0x5E])*32; name = b"Pixel"
inner = bytes([0xa6, 0x01, 0x50]) + contact + bytes([0x02, 0x48]) + link_id + bytes([0x03, 0x58, 0x20]) + secret \
  + bytes([0x04, 0x58, 0x41]) + iu + bytes([0x05, 0x60 + len(name)]) + name + bytes([0x06, 0x58, 0x20]) + sig
frame = bytes([0x02, 0xa1, 0x01]) + inner
print("update_frame", frame.hex())
nonce = bytes(range(0xA0, 0xB0))
eid = bytes([0]) + bytes([0x33])*10 + bytes([0,0,0]) + (0).to_bytes(2,'little')
def hkdf(ikm, salt, purpose, n):
    return HKDF(hashes.SHA256(), n, salt, purpose.to_bytes(4,'little')).derive(ikm)
ek = hkdf(secret, nonce, 1, 64)
enc = Cipher(algorithms.AES(ek[:32]), modes.ECB()).encryptor(); ct = enc.update(eid) + enc.finalize()
t = hmac.HMAC(ek[32:], hashes.SHA256()); t.update(ct); tag = t.finalize()[:4]
print("advert", (ct+tag).hex())
print("psk", hkdf(secret, eid, 3, 32).hex())
# pxp's client payload for link id 1D.., nonce A0..AF, hint "ga" (serde_cbor indexed struct)
cp = bytes([0xa3, 0x01, 0x48]) + link_id + bytes([0x02, 0x50]) + nonce + bytes([0x03, 0x62]) + b"ga"
print("client_payload", cp.hex())
