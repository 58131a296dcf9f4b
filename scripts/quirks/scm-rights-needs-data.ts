/**
 * Quirk 29: a descriptor passed with SCM_RIGHTS must travel with at least one byte of
 * ordinary data on a stream socket. quirk_c scm-rights-payload sends the same descriptor
 * with no data, with one byte, and (for contrast) with no data on SOCK_SEQPACKET.
 */
import { measuredBy, runQuirkC, value, type Quirk } from './quirk.ts';

export const quirk: Quirk = {
  order: 29,
  id: 'scm-rights-needs-data',
  title: 'SCM_RIGHTS on a stream socket needs at least one byte of ordinary data, or the descriptor is silently not sent',
  showsOn: ['linux'],
  observed: {
    linux: measuredBy('scm-rights-needs-data', 'SOCK_STREAM: sendmsg with no data returned 0 and the receiver got nothing; with one byte it got the descriptor; SOCK_SEQPACKET carried it in an empty message'),
    wine: { kind: 'never', why: 'SCM_RIGHTS is POSIX; Windows passes a socket with WSADuplicateSocketW (see wsaduplicatesocket-target)' },
    windows: { kind: 'never', why: 'no SCM_RIGHTS on Windows; libuv sends the WSAPROTOCOL_INFOW bytes as data there' },
    macos: { kind: 'documented', source: 'libuv\'s guide, "Processes" (uv_write2 "requires a non-empty buffer even when sending handles"); POSIX `sendmsg` (ancillary data)' },
  },
  doc: {
    problem:
      'A master that hands a client socket to a worker with `sendmsg` and SCM_RIGHTS, but no ordinary data (an empty or absent `msg_iov`), ' +
      'gets no error: on a Unix stream socket `sendmsg` returns 0 and the descriptor never arrives; the worker waits for a connection that ' +
      'was never sent. libuv has the same rule: its guide thanks a reader for pointing out that `uv_write2` needs a non-empty buffer even when ' +
      'sending a handle, which is why the guide writes a dummy "a".',
    why:
      'Ancillary data rides on the ordinary data of a message. A byte stream has no messages: a send of zero bytes queues nothing, so the ' +
      'control message has nothing to be attached to. A message socket (SOCK_SEQPACKET, SOCK_DGRAM) queues an empty message, which carries it.',
    platforms: 'POSIX Unix-domain stream sockets (measured on Linux); libuv on every platform (`uv_write2`).',
    handled:
      "The `send` technique of the handoff demo (issue 12) sends one byte with every descriptor. This demonstration stands alone: quirk_c " +
      '`scm-rights-payload` (c/quirks/quirk_posix.c).',
    source: 'libuv\'s guide, "Processes", "Sending file descriptors over pipes" (the note on `uv_write2`); POSIX `sendmsg`; Linux unix(7).',
  },
  async show() {
    return runQuirkC('scm-rights-payload');
  },
  verify(t, shown) {
    t.equal(value(shown, 'stream_empty_sent'), '0', 'SOCK_STREAM: sendmsg with SCM_RIGHTS and no data returns 0, no error');
    t.equal(value(shown, 'stream_empty_received_fds'), '0', 'and the receiver gets no descriptor (nothing arrived in 500 ms)');
    t.equal(value(shown, 'stream_byte_received_fds'), '1', 'with one data byte the descriptor arrives');
    t.equal(value(shown, 'seqpacket_empty_received_fds'), '1', 'SOCK_SEQPACKET carries it in an empty message');
  },
};
