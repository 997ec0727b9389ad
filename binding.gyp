{
  "targets": [
    {
      "target_name": "weft",
      "sources": [
        "native/addon.cc",
        "native/addon_layout.cc",
        "native/addon_ports.cc",
        "native/addon_tables.cc",
        "native/addon_tunnels.cc",
        "native/addon_policy.cc",
        "native/addon_observe.cc",
        "native/trace.cc",
        "native/policy_tables.cc",
        "native/policy_stage.cc",
        "native/tables.cc",
        "native/port_tap.cc",
        "native/port_packet.cc",
        "native/port_uplink.cc",
        "native/addon_uplink.cc",
        "native/uplink_rx.cc",
        "native/worker.cc",
        "native/l2_switch.cc",
        "native/proxy_arp.cc",
        "native/tunnel_rx.cc",
        "native/tunnel.cc",
        "native/underlay.cc",
        "native/gso.cc",
        "native/coalesce.cc",
        "native/tunnel_egress.cc",
        "native/checksum.cc",
        "native/udp_batch.cc",
        "native/port_memory.cc",
        "native/addon_memory.cc",
        "native/test_exports.cc",
        "native/conntrack.cc",
        "native/test_exports_ct.cc",
        "native/capture.cc", "native/addon_capture.cc",
        "native/netns_socket.cc"
      ],
      "libraries": ["-lpcap"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-O2", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
