/**
 * Quirk 31: MSG_CTRUNC, a control buffer too small for the descriptors sent. quirk_c
 * cmsg-ctrunc sends three descriptors in one message and receives them into no buffer, a
 * buffer of CMSG_SPACE(sizeof(int)), and one with room for three, counting the descriptors
 * open in the receiver before and after.
 */
import { measuredBy, runQuirkC, value, type Quirk } from './quirk.ts';

export const quirk: Quirk = {
  order: 31,
  id: 'cmsg-ctrunc',
  title: 'MSG_CTRUNC: descriptors that do not fit the control buffer are lost, and those that fit are open: close them',
  showsOn: ['linux'],
  observed: {
    linux: measuredBy('cmsg-ctrunc', 'three sent: no buffer, 0 installed; CMSG_SPACE(sizeof(int)) = 24 bytes, 2 installed (the padding has room for a second), MSG_CTRUNC both times'),
    wine: { kind: 'never', why: 'SCM_RIGHTS is POSIX' },
    windows: { kind: 'never', why: 'no SCM_RIGHTS on Windows' },
    macos: { kind: 'documented', source: 'POSIX `recvmsg` (MSG_CTRUNC: "control data was truncated")' },
  },
  doc: {
    problem:
      'A receiver whose control buffer is smaller than what was sent gets `MSG_CTRUNC` in `msg_flags` and no error. The descriptors that did ' +
      'not fit are gone: the connection they stood for is lost (closed by the kernel; if the sender closed its copy, the client sees it end). ' +
      'Those that fit are installed in the receiver: code that sees MSG_CTRUNC and gives up without closing them leaks them. And "room for ' +
      'one" is not exact: on Linux (64-bit) `CMSG_SPACE(sizeof(int))` is 24 bytes, whose padding holds a second descriptor, so two of three ' +
      'arrived.',
    why:
      'The kernel copies as many descriptors as fit in `msg_controllen` into new descriptors of the receiver and drops the references to the ' +
      'rest; the message itself (its data) is delivered either way. `CMSG_SPACE` rounds up to the alignment of `cmsghdr` (8 bytes on 64-bit ' +
      'Linux), and the kernel uses every whole int that fits.',
    platforms: 'POSIX (measured on Linux); how many fit in the padding depends on the platform\'s alignment.',
    handled:
      'A receiver sizes its buffer for the most descriptors a message may carry, checks MSG_CTRUNC, and closes every descriptor it got before ' +
      'reporting the error. This demonstration stands alone: quirk_c `cmsg-ctrunc` (c/quirks/quirk_posix.c).',
    source: 'POSIX `recvmsg` (MSG_CTRUNC); Linux unix(7) (SCM_RIGHTS: with a control buffer too small or absent, the excess descriptors are closed in the receiver) and cmsg(3).',
  },
  async show() {
    return runQuirkC('cmsg-ctrunc');
  },
  verify(t, shown) {
    t.equal(value(shown, 'no_buffer'), 'ctrunc=yes installed=0 opened=0', 'no control buffer: MSG_CTRUNC, all three descriptors lost');
    t.match(value(shown, 'room_for_one'), /^ctrunc=yes installed=([12]) opened=\1$/, 'a small buffer: MSG_CTRUNC, yet some arrived and are open in the receiver');
    t.equal(value(shown, 'room_for_three'), 'ctrunc=no installed=3 opened=3', 'room for three: no MSG_CTRUNC, all three');
  },
};
