{
  # One build for everything, on every platform: the addon (ipc.node), the C child
  # (child_c) and the quirk demonstrations (quirk_c); on POSIX also the watchdog
  # (watchdog_c, c/guard_posix.c explains it). Files named *_posix.c or *_win.c implement the same functions per platform;
  # the conditions below pick one of each pair. scripts/build-win.ts reads this file to
  # cross-compile the same list with mingw-w64.
  "target_defaults": {
    "cflags": ["-std=c11", "-Wall", "-Wextra"],
    "xcode_settings": {
      "OTHER_CFLAGS": ["-std=c11", "-Wall", "-Wextra"],
      "MACOSX_DEPLOYMENT_TARGET": "10.15"
    },
    # The same intent for MSVC (node-gyp on Windows): C11 (/std:c11, Visual Studio 2019
    # 16.8 and later), warning level 4 as the counterpart of -Wall -Wextra, warnings not
    # turned into errors. Not exercised here: the Windows build on Linux uses mingw-w64.
    "msvs_settings": {
      "VCCLCompilerTool": {
        "WarningLevel": "4",
        "WarnAsError": "false",
        "AdditionalOptions": ["/std:c11"]
      }
    }
  },
  "targets": [
    {
      "target_name": "ipc",
      "sources": [
        "c/addon.c",
        "c/errors.c",
        "c/socketpair.c",
        "c/select.c",
        "c/cmdline.c",
        "c/relay_thread.c",
        "c/lines.c"
      ],
      "conditions": [
        ["OS=='win'", {
          "sources": [
            "c/errors_win.c",
            "c/io_win.c",
            "c/socketpair_win.c",
            "c/spawn_win.c",
            "c/relay_thread_win.c",
            "c/fork_exec_win.c",
            "c/select_win.c",
            "c/guard_win.c",
            "c/listen_win.c",
            "c/fdpass_win.c"
          ],
          "defines": ["FD_SETSIZE=1024", "_WIN32_WINNT=0x0601"],
          "libraries": ["-lws2_32"]
        }, {
          "sources": [
            "c/errors_posix.c",
            "c/io_posix.c",
            "c/socketpair_posix.c",
            "c/spawn_posix.c",
            "c/path_posix.c",
            "c/relay_thread_posix.c",
            "c/fork_exec_posix.c",
            "c/select_posix.c",
            "c/guard_posix.c",
            "c/listen_posix.c",
            "c/fdpass_posix.c",
            "c/loop_posix.c"
          ],
          "cflags": ["-pthread"],
          "ldflags": ["-pthread"],
          "conditions": [
            # dladdr (guard_posix.c finds watchdog_c beside the addon) is in libdl before
            # glibc 2.34.
            ["OS=='linux'", {"libraries": ["-ldl"]}]
          ]
        }]
      ]
    },
    {
      "target_name": "child_c",
      "type": "executable",
      "sources": ["c/child.c"]
    },
    {
      # The handoff demo's C worker (docs/handoff.md). Windows: --channel only (the
      # SOCKET rebuilt from WSAPROTOCOL_INFOW); --socket is not built there yet.
      "target_name": "worker_c",
      "type": "executable",
      "sources": ["c/worker.c", "c/errors.c"],
      "conditions": [
        ["OS=='win'", {
          "sources": ["c/fdpass_win.c", "c/io_win.c", "c/errors_win.c"],
          "defines": ["_WIN32_WINNT=0x0601"],
          "libraries": ["-lws2_32"]
        }, {
          "sources": ["c/fdpass_posix.c", "c/io_posix.c", "c/errors_posix.c"]
        }]
      ]
    },
    {
      # The quirk catalogue's demonstrations (docs/quirks.md): one program, a subcommand
      # per quirk. quirk_<platform>.c: quirks of that platform alone; both_<platform>.c:
      # that platform's side of the quirks every platform has.
      "target_name": "quirk_c",
      "type": "executable",
      "sources": ["c/quirks/main.c"],
      "conditions": [
        ["OS=='win'", {
          "sources": ["c/quirks/quirk_win.c", "c/quirks/both_win.c"],
          "defines": ["_WIN32_WINNT=0x0601"],
          "libraries": ["-lws2_32"]
        }, {
          "sources": ["c/quirks/quirk_posix.c", "c/quirks/both_posix.c"]
        }]
      ]
    }
  ],
  # The watchdog that kills a POSIX parent's process groups when the parent ends
  # (c/guard_posix.c). Windows has kill-on-close jobs instead, so no such program there.
  "conditions": [
    ["OS!='win'", {
      "targets": [
        {
          "target_name": "watchdog_c",
          "type": "executable",
          "sources": ["c/watchdog.c"]
        }
      ]
    }]
  ]
}
