/**
 * Quirk 30: a descriptor received with SCM_RIGHTS arrives without close-on-exec, whatever
 * the sender's copy had. quirk_c received-fd-cloexec receives one with recvmsg flags 0 and
 * one with MSG_CMSG_CLOEXEC, and asks an exec'd child (quirk_c fd-probe) whether it has it.
 */
import { measuredBy, runQuirkC, value, type Quirk } from './quirk.ts';

export const quirk: Quirk = {
  order: 30,
  id: 'received-fd-cloexec',
  title: 'A descriptor received with SCM_RIGHTS has no close-on-exec: the next exec leaks it unless MSG_CMSG_CLOEXEC asks',
  showsOn: ['linux'],
  observed: {
    linux: measuredBy('received-fd-cloexec', "sender's copy FD_CLOEXEC set, received copy clear and open in an exec'd child; with MSG_CMSG_CLOEXEC set and closed there"),
    wine: { kind: 'never', why: 'SCM_RIGHTS is POSIX; a socket rebuilt with WSASocketW(FROM_PROTOCOL_INFO) is not shown for inheritance' },
    windows: { kind: 'never', why: 'no SCM_RIGHTS on Windows' },
    macos: { kind: 'documented', source: 'POSIX `recvmsg` and `fcntl` (FD_CLOEXEC is a descriptor flag); MSG_CMSG_CLOEXEC is not in POSIX' },
  },
  doc: {
    problem:
      'A worker receives client sockets over its channel and later starts a child of its own (a CGI script, a helper): every socket it ' +
      'received is open in that child, even though the master had made its copies close-on-exec. The child holds connections it never ' +
      'heard of: a client does not see EOF while the child lives (see master-keeps-copy), and the descriptors add up.',
    why:
      'FD_CLOEXEC is a flag of the descriptor, not of the open file: `recvmsg` installs a new descriptor in the receiver, created without the ' +
      'flag unless `MSG_CMSG_CLOEXEC` is passed (Linux, also the BSDs). Setting it afterwards with `fcntl` works too but leaves a window in ' +
      "which another thread's fork and exec inherit it.",
    platforms: 'POSIX (measured on Linux; MSG_CMSG_CLOEXEC on Linux and the BSDs, not in POSIX itself).',
    handled:
      'What to do: a process that receives descriptors passes MSG_CMSG_CLOEXEC to recvmsg (or sets FD_CLOEXEC at once where that flag is ' +
      'missing), and clears the flag only in a child that must inherit one. This demonstration stands alone: quirk_c `received-fd-cloexec` ' +
      '(c/quirks/quirk_posix.c).',
    source: 'Linux recvmsg(2) (MSG_CMSG_CLOEXEC) and unix(7) (SCM_RIGHTS); POSIX `fcntl` (FD_CLOEXEC) and `exec`.',
  },
  async show() {
    return runQuirkC('received-fd-cloexec');
  },
  verify(t, shown) {
    t.equal(value(shown, 'plain_cloexec'), 'clear', "received with flags 0: no FD_CLOEXEC, though the sender's copy had it");
    t.equal(value(shown, 'plain_in_child'), 'open', "and it is open in an exec'd child: leaked");
    t.equal(value(shown, 'flag_cloexec'), 'set', 'received with MSG_CMSG_CLOEXEC: FD_CLOEXEC set');
    t.equal(value(shown, 'flag_in_child'), 'closed', "and closed in an exec'd child");
  },
};
