"""The codec pieces the gateway adds to cdw.tracking.io.jt808: the stream splitter and the
registration, authentication and reply bodies."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cdw.tracking.io.jt808 import (
    FrameSplitter,
    Registration,
    decode_authentication,
    decode_frame,
    decode_general_reply,
    decode_register_reply,
    decode_registration,
    encode_authentication,
    encode_frame,
    encode_general_reply,
    encode_register_reply,
    encode_registration,
    peek_header,
)

messages = st.lists(
    st.tuples(
        st.integers(0, 0xFFFF),
        st.binary(max_size=60),  # bodies full of 7E and 7D now and then
        st.sampled_from([2013, 2019]),
        st.integers(0, 0xFFFF),
    ),
    min_size=1,
    max_size=8,
)


@given(messages, st.lists(st.integers(1, 50), min_size=1, max_size=40))
def test_frames_come_out_whole_however_the_stream_is_cut(msgs, cuts):
    stream = b"".join(
        encode_frame(m, "13912344329", body, version=v, flow=f) for m, body, v, f in msgs
    )
    splitter, out, pos, i = FrameSplitter(), [], 0, 0
    while pos < len(stream):
        step = cuts[i % len(cuts)]
        out += splitter.feed(stream[pos : pos + step])
        pos, i = pos + step, i + 1
    assert all(ok for ok, _ in out)
    decoded = [decode_frame(content) for _, content in out]
    assert [(f.header.msg_id, f.body, f.header.version, f.header.flow) for f in decoded] == msgs
    assert splitter.pending == 0


def test_bytes_before_the_first_flag_and_overlong_content_are_garbage():
    splitter = FrameSplitter(max_content=20)
    frame = encode_frame(0x0002, "13912344329", b"", flow=1)
    assert splitter.feed(b"junk" + frame) == [(False, b"junk"), (True, frame[1:-1])]
    assert splitter.feed(b"\x7e" + b"x" * 21) == [(False, b"x" * 21)]
    assert splitter.feed(b"yy\x7e" + frame) == [(False, b"yy"), (True, frame[1:-1])]


def test_a_readable_header_of_a_broken_frame_is_peeked():
    frame = bytearray(encode_frame(0x0200, "13912344329", b"\x01\x02", version=2019, flow=0x7E))
    frame[-2] ^= 0xFF  # checksum broken
    header = peek_header(bytes(frame[1:-1]))
    assert header is not None
    assert (header.msg_id, header.flow, header.version, header.phone) == (
        0x0200, 0x7E, 2019, "00000000013912344329"
    )  # fmt: skip
    assert peek_header(b"\x02\x00") is None


@given(st.sampled_from([2013, 2019]), st.text("ABCDEFGH0123456789", min_size=1, max_size=5))
def test_registration_and_authentication_bodies_round_trip(version, suffix):
    reg = Registration(44, 100, "CDW", "M1", "T" + suffix, 2, "粤A" + suffix)
    assert decode_registration(encode_registration(reg, version), version) == reg
    code = "ABCDEF0123456789"
    body = encode_authentication(code, version, imei="861234567890123", software="1.0")
    assert decode_authentication(body, version) == code


def test_reply_bodies():
    assert encode_general_reply(0x1234, 0x0200, 2) == bytes.fromhex("12 34 02 00 02")
    assert decode_general_reply(bytes.fromhex("12 34 02 00 02")) == (0x1234, 0x0200, 2)
    assert encode_register_reply(7, 0, "AB") == bytes.fromhex("00 07 00 41 42")
    assert encode_register_reply(7, 4, "AB") == bytes.fromhex("00 07 04")  # no code on refusal
    assert decode_register_reply(bytes.fromhex("00 07 00 41 42")) == (7, 0, "AB")
