{
  # One build for everything: the addon (ipc.node) and the C child (child_c), on every
  # platform. Files named *_posix.c or *_win.c implement the same functions per platform;
  # the conditions below pick one of each pair. scripts/build-win.ts reads this file to
  # cross-compile the same list with mingw-w64.
  "target_defaults": {
    "cflags": ["-std=c11", "-Wall", "-Wextra"],
    "xcode_settings": {
      "OTHER_CFLAGS": ["-std=c11", "-Wall", "-Wextra"],
      "MACOSX_DEPLOYMENT_TARGET": "10.15"
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
            "c/select_win.c"
          ],
          "defines": ["FD_SETSIZE=1024", "_WIN32_WINNT=0x0601"],
          "libraries": ["-lws2_32"]
        }, {
          "sources": [
            "c/errors_posix.c",
            "c/io_posix.c",
            "c/socketpair_posix.c",
            "c/spawn_posix.c",
            "c/relay_thread_posix.c",
            "c/fork_exec_posix.c",
            "c/select_posix.c"
          ],
          "cflags": ["-pthread"],
          "ldflags": ["-pthread"]
        }]
      ]
    },
    {
      "target_name": "child_c",
      "type": "executable",
      "sources": ["c/child.c"]
    }
  ]
}
