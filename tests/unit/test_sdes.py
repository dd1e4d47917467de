"""The a=crypto attribute of SDES (RFC 4568): parse, format, choose, fresh keys, bad lines."""

import base64

import pytest

from pbx.sip.sdes import CryptoAttribute, KeyParameter, SdesError, choose, fresh_crypto

KEY = bytes(range(16))
SALT = bytes(range(100, 114))
INLINE = base64.b64encode(KEY + SALT).decode()  # 40 characters for the AES_CM_128 suites


def test_parses_the_rfc_4568_example_shape():
    crypto = CryptoAttribute.parse(f"1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}|2^20|1:4")
    assert crypto.tag == 1
    assert crypto.suite == "AES_CM_128_HMAC_SHA1_80"
    assert crypto.keys == [KeyParameter(KEY, SALT, lifetime=1 << 20, mki=(1, 4))]
    assert crypto.unusable_because == "several keys or an MKI (RFC 4568 6.1) are not supported"


def test_round_trips_what_phones_send():
    for value in (f"1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}",
                  f"2 AES_CM_128_HMAC_SHA1_32 inline:{INLINE}|2^31",
                  f"3 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}|1048575 -FOO"):
        assert str(CryptoAttribute.parse(value)) == value


def test_key_and_salt_is_what_libsrtp_takes():
    crypto = CryptoAttribute.parse(f"7 AES_CM_128_HMAC_SHA1_32 inline:{INLINE}")
    assert crypto.key_and_salt == KEY + SALT
    assert crypto.unusable_because is None


@pytest.mark.parametrize(("value", "complaint"), [
    ("1 AES_CM_128_HMAC_SHA1_80", "needs '<tag> <crypto-suite> inline:<key||salt>'"),
    (f"x AES_CM_128_HMAC_SHA1_80 inline:{INLINE}", "tag 'x' is not 1 to 9 digits"),
    (f"1234567890 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}", "is not 1 to 9 digits"),
    (f"1 AES_CM_128_HMAC_SHA1_80 outline:{INLINE}", "must start 'inline:'"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:not*base64", "is not valid base64"),
    ("1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(KEY).decode(), "got 16"),
    (f"1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}|2^x", "lifetime '2^x' must be a number or 2^<n>"),
    (f"1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}|1:999", "MKI '1:999' must be"),
])
def test_bad_lines_say_what_is_wrong(value, complaint):
    with pytest.raises(SdesError) as error:
        CryptoAttribute.parse(value)
    assert complaint in str(error.value)


def test_unknown_suites_parse_but_are_unusable():
    crypto = CryptoAttribute.parse("1 AEAD_AES_256_GCM inline:" + base64.b64encode(bytes(44)).decode())
    assert crypto.unusable_because.startswith("crypto-suite AEAD_AES_256_GCM is not one of")


def test_mandatory_session_parameters_we_do_not_know_make_a_line_unusable():
    assert CryptoAttribute.parse(f"1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE} UNENCRYPTED_SRTP"
                                 ).unusable_because == "session parameter UNENCRYPTED_SRTP is not supported"
    assert CryptoAttribute.parse(f"1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE} -X").unusable_because is None


def test_choose_takes_the_first_usable_line_in_the_offerers_order():
    chosen = choose([
        "1 AEAD_AES_256_GCM inline:" + base64.b64encode(bytes(44)).decode(),
        "2 AES_CM_128_HMAC_SHA1_80 inline:garbage!",
        f"3 AES_CM_128_HMAC_SHA1_32 inline:{INLINE}",
        f"4 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}",
    ])
    assert (chosen.tag, chosen.suite) == (3, "AES_CM_128_HMAC_SHA1_32")
    assert choose([]) is None


def test_fresh_crypto_keeps_tag_and_suite_with_new_key_material():
    crypto = fresh_crypto(5, "AES_CM_128_HMAC_SHA1_32", lambda n: bytes([9]) * n)
    assert str(crypto) == "5 AES_CM_128_HMAC_SHA1_32 inline:" + base64.b64encode(bytes([9]) * 30).decode()
    first, second = (fresh_crypto(1, "AES_CM_128_HMAC_SHA1_80") for _ in range(2))
    assert first.key_and_salt != second.key_and_salt  # os.urandom
    with pytest.raises(ValueError, match="unknown crypto-suite"):
        fresh_crypto(1, "NULL")
