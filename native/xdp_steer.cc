#include "xdp_steer.h"

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "sys.h"

namespace weft {

namespace {

long Bpf(int cmd, bpf_attr* attr) { return syscall(__NR_bpf, cmd, attr, sizeof(*attr)); }

// A tiny assembler: instructions, and forward jumps patched to a label.
class Program {
 public:
  enum Reg : uint8_t { R0, R1, R2, R3, R4, R5, R6 };
  void Emit(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    bpf_insn i;
    std::memset(&i, 0, sizeof(i));
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    code_.push_back(i);
  }
  void Mov(Reg dst, Reg src) { Emit(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
  void MovImm(Reg dst, int32_t imm) { Emit(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
  void AddImm(Reg dst, int32_t imm) { Emit(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm); }
  void And32Imm(Reg dst, int32_t imm) { Emit(BPF_ALU | BPF_AND | BPF_K, dst, 0, 0, imm); }
  void Load(uint8_t size, Reg dst, Reg base, int16_t off) { Emit(BPF_LDX | BPF_MEM | size, dst, base, off, 0); }
  void LoadMapFd(Reg dst, int fd) {
    Emit(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd);
    Emit(0, 0, 0, 0, 0);  // the upper half of the 64-bit immediate
  }
  void Call(int32_t helper) { Emit(BPF_JMP | BPF_CALL, 0, 0, 0, helper); }
  void Exit() { Emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }
  // Jumps to `label` (patched by Bind): 32-bit compares, so an address with
  // its top bit set is not sign-extended against a zero-extended load.
  void JumpIfImm(uint8_t op, Reg r, int32_t imm, int label) { Fix(label), Emit(BPF_JMP32 | op | BPF_K, r, 0, 0, imm); }
  void JumpIfReg(uint8_t op, Reg r, Reg s, int label) { Fix(label), Emit(BPF_JMP | op | BPF_X, r, s, 0, 0); }
  void Jump(int label) { Fix(label), Emit(BPF_JMP | BPF_JA, 0, 0, 0, 0); }
  void Bind(int label) {
    for (auto& [at, l] : fixups_) {
      if (l == label) code_[at].off = static_cast<int16_t>(code_.size() - at - 1);
    }
  }
  const std::vector<bpf_insn>& code() const { return code_; }

 private:
  void Fix(int label) { fixups_.push_back({code_.size(), label}); }
  std::vector<bpf_insn> code_;
  std::vector<std::pair<size_t, int>> fixups_;
};

// struct xdp_md's fields, and the frame's, as offsets.
constexpr int16_t kMdData = 0, kMdDataEnd = 4, kMdRxQueue = 16;
constexpr int16_t kEthType = 12, kIpVerIhl = 14, kIpFrag = 20, kIpProto = 23, kIpDst = 30, kUdpDst = 36;
// Ethernet + IPv4 without options + UDP: the bytes the checks read (GRE's
// header with its key is as long).
constexpr int32_t kNeeded = 42;

// The loads are little-endian reads of big-endian fields: compared with
// the field's bytes as they lie in memory (htons, an in_addr), not values.
std::vector<bpf_insn> SteerCode(int map_fd, uint32_t local_ip, uint16_t vxlan_port, bool vxlan, bool gre) {
  using R = Program::Reg;
  enum { kPass, kRedirect };
  Program p;
  p.Mov(R::R6, R::R1);
  p.Load(BPF_W, R::R2, R::R6, kMdData);
  p.Load(BPF_W, R::R3, R::R6, kMdDataEnd);
  p.Mov(R::R4, R::R2);
  p.AddImm(R::R4, kNeeded);
  p.JumpIfReg(BPF_JGT, R::R4, R::R3, kPass);
  p.Load(BPF_H, R::R5, R::R2, kEthType);
  p.JumpIfImm(BPF_JNE, R::R5, htons(0x0800), kPass);
  p.Load(BPF_B, R::R5, R::R2, kIpVerIhl);
  p.JumpIfImm(BPF_JNE, R::R5, 0x45, kPass);  // options: the kernel's sockets take it
  p.Load(BPF_H, R::R5, R::R2, kIpFrag);
  p.And32Imm(R::R5, htons(0x3fff));
  p.JumpIfImm(BPF_JNE, R::R5, 0, kPass);  // a fragment: the kernel reassembles it
  p.Load(BPF_W, R::R5, R::R2, kIpDst);
  p.JumpIfImm(BPF_JNE, R::R5, static_cast<int32_t>(local_ip), kPass);
  p.Load(BPF_B, R::R5, R::R2, kIpProto);
  if (gre) p.JumpIfImm(BPF_JEQ, R::R5, IPPROTO_GRE, kRedirect);
  if (vxlan) {
    p.JumpIfImm(BPF_JNE, R::R5, IPPROTO_UDP, kPass);
    p.Load(BPF_H, R::R5, R::R2, kUdpDst);
    p.JumpIfImm(BPF_JNE, R::R5, htons(vxlan_port), kPass);
    p.Jump(kRedirect);
  } else {
    p.Jump(kPass);
  }
  p.Bind(kRedirect);
  // bpf_redirect_map(map, rx_queue_index, XDP_PASS): a queue without a
  // socket passes the packet on instead of dropping it.
  p.Load(BPF_W, R::R2, R::R6, kMdRxQueue);
  p.LoadMapFd(R::R1, map_fd);
  p.MovImm(R::R3, XDP_PASS);
  p.Call(BPF_FUNC_redirect_map);
  p.Exit();
  p.Bind(kPass);
  p.MovImm(R::R0, XDP_PASS);
  p.Exit();
  return p.code();
}

}  // namespace

std::unique_ptr<XdpSteer> XdpSteer::Attach(int ifindex, uint32_t local_ip, uint16_t vxlan_port, bool vxlan, bool gre,
                                           uint32_t queues) {
  bpf_attr a;
  std::memset(&a, 0, sizeof(a));
  a.map_type = BPF_MAP_TYPE_XSKMAP;
  a.key_size = 4;
  a.value_size = 4;
  a.max_entries = queues;
  std::strncpy(a.map_name, "weft_xsks", sizeof(a.map_name) - 1);
  int map = static_cast<int>(Bpf(BPF_MAP_CREATE, &a));
  if (map < 0) throw SysError("XSK map");
  std::vector<bpf_insn> code = SteerCode(map, local_ip, vxlan_port, vxlan, gre);
  char log[4096];
  log[0] = 0;
  static const char license[] = "Dual MIT/GPL";
  std::memset(&a, 0, sizeof(a));
  a.prog_type = BPF_PROG_TYPE_XDP;
  a.insns = reinterpret_cast<uint64_t>(code.data());
  a.insn_cnt = static_cast<uint32_t>(code.size());
  a.license = reinterpret_cast<uint64_t>(license);
  a.log_buf = reinterpret_cast<uint64_t>(log);
  a.log_size = sizeof(log);
  a.log_level = 1;
  a.expected_attach_type = BPF_XDP;
  std::strncpy(a.prog_name, "weft_steer", sizeof(a.prog_name) - 1);
  int prog = static_cast<int>(Bpf(BPF_PROG_LOAD, &a));
  if (prog < 0) {
    std::string why = std::strerror(errno);
    close(map);
    // The verifier's last line says what it refused.
    std::string l(log);
    while (!l.empty() && l.back() == '\n') l.pop_back();
    size_t nl = l.rfind('\n');
    throw std::runtime_error("XDP program refused: " + why + (l.empty() ? "" : " (" + l.substr(nl == std::string::npos ? 0 : nl + 1) + ")"));
  }
  std::unique_ptr<XdpSteer> s(new XdpSteer(map, prog));
  std::memset(&a, 0, sizeof(a));
  a.link_create.prog_fd = static_cast<uint32_t>(prog);
  a.link_create.target_ifindex = static_cast<uint32_t>(ifindex);
  a.link_create.attach_type = BPF_XDP;
  a.link_create.flags = XDP_FLAGS_DRV_MODE;
  s->link_fd_ = static_cast<int>(Bpf(BPF_LINK_CREATE, &a));
  if (s->link_fd_ < 0) {
    if (errno == EBUSY || errno == EEXIST) throw std::runtime_error("the device already has an XDP program");
    if (errno == EOPNOTSUPP || errno == EINVAL) throw std::runtime_error(std::string("the device's driver has no native XDP: ") + std::strerror(errno));
    throw SysError("attaching the XDP program");
  }
  return s;
}

void XdpSteer::SetSocket(uint32_t queue, int xsk_fd) {
  bpf_attr a;
  std::memset(&a, 0, sizeof(a));
  uint32_t value = static_cast<uint32_t>(xsk_fd);
  a.map_fd = static_cast<uint32_t>(map_fd_);
  a.key = reinterpret_cast<uint64_t>(&queue);
  a.value = reinterpret_cast<uint64_t>(&value);
  a.flags = BPF_ANY;
  if (Bpf(BPF_MAP_UPDATE_ELEM, &a) < 0) throw SysError("XSK map update");
}

XdpSteer::~XdpSteer() {
  if (link_fd_ >= 0) close(link_fd_);  // detaches the program
  close(prog_fd_);
  close(map_fd_);
}

}  // namespace weft
