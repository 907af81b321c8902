{
  "targets": [
    {
      "target_name": "flannel_native",
      "sources": [
        "src/addon.c",
        "src/args.c",
        "src/poll.c",
        "src/netns.c",
        "src/netlink.c",
        "src/datapath.c",
        "src/nodecheck.c"
      ],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "defines": ["NAPI_VERSION=9"]
    }
  ]
}
