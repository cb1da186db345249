// Minimal .npy (NumPy format 1.0/2.0) reading and writing for ember::Tensor: little-endian,
// C order, bool / int8..64 / uint8..64 / float16, float32, float64. Enough for an example;
// not a general .npy library.
#ifndef EMBER_EXAMPLES_CPP_NPY_H_
#define EMBER_EXAMPLES_CPP_NPY_H_

#include <ember/runtime.h>

#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace npy {

// "<f4" <-> DLDataType
inline DLDataType ParseDescr(const std::string& d, const std::string& path) {
  if (d == "|b1") return DLDataType{kDLBool, 8, 1};
  if (d.size() < 3 || (d[0] != '<' && d[0] != '|')) {
    throw std::runtime_error(path + ": unsupported dtype '" + d + "' (little-endian only)");
  }
  uint8_t bits = static_cast<uint8_t>(std::stoi(d.substr(2)) * 8);
  if (d[1] == 'f') return DLDataType{kDLFloat, bits, 1};
  if (d[1] == 'i') return DLDataType{kDLInt, bits, 1};
  if (d[1] == 'u') return DLDataType{kDLUInt, bits, 1};
  throw std::runtime_error(path + ": unsupported dtype '" + d + "'");
}

inline std::string Descr(DLDataType t) {
  if (t.code == kDLBool) return "|b1";
  const char kind = t.code == kDLFloat ? 'f' : t.code == kDLInt ? 'i' : 'u';
  return std::string(t.bits == 8 ? "|" : "<") + kind + std::to_string(t.bits / 8);
}

// The value of 'key' in the header dict, e.g. Field(h, "descr") -> "'<f4'".
inline std::string Field(const std::string& header, const std::string& key) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) throw std::runtime_error("npy header lacks '" + key + "'");
  size_t start = header.find(':', at) + 1;
  size_t end = header.find(key == "shape" ? ')' : ',', start);
  return header.substr(start, end - start + (key == "shape" ? 1 : 0));
}

inline ember::Tensor Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8];
  if (!in.read(magic, 8) || std::string(magic, 6) != "\x93NUMPY") {
    throw std::runtime_error(path + ": not a .npy file");
  }
  uint32_t len = 0;
  unsigned char b[4] = {0, 0, 0, 0};
  in.read(reinterpret_cast<char*>(b), magic[6] == 1 ? 2 : 4);
  len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  std::string header(len, '\0');
  in.read(&header[0], len);
  if (Field(header, "fortran_order").find("True") != std::string::npos) {
    throw std::runtime_error(path + ": Fortran order is not supported");
  }
  std::string descr = Field(header, "descr");
  descr = descr.substr(descr.find('\'') + 1, descr.rfind('\'') - descr.find('\'') - 1);
  std::vector<int64_t> shape;
  std::string dims = Field(header, "shape");
  for (size_t i = dims.find('(') + 1; i < dims.size();) {
    size_t j = dims.find_first_of(",)", i);
    if (dims.find_first_not_of(' ', i) < j) shape.push_back(std::stoll(dims.substr(i, j - i)));
    i = j + 1;
  }
  ember::Tensor t = ember::Tensor::Empty(shape, ParseDescr(descr, path));
  if (!in.read(static_cast<char*>(t.data()), static_cast<std::streamsize>(t.nbytes()))) {
    throw std::runtime_error(path + ": truncated data");
  }
  return t;
}

inline void Write(const std::string& path, const ember::Tensor& t) {
  std::string shape = "(";
  for (int64_t d : t.shape()) shape += std::to_string(d) + ", ";
  if (t.shape().size() > 1) shape.erase(shape.size() - 2);  // (3,) keeps its comma
  shape += ")";
  std::string header =
      "{'descr': '" + Descr(t.dtype()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  header.append(63 - (10 + header.size()) % 64, ' ').push_back('\n');  // 64-byte aligned data
  std::ofstream out(path, std::ios::binary);
  const uint16_t len = static_cast<uint16_t>(header.size());
  out.write("\x93NUMPY\x01\x00", 8);
  out.put(static_cast<char>(len & 0xff)).put(static_cast<char>(len >> 8));
  out << header;
  out.write(static_cast<const char*>(t.data()), static_cast<std::streamsize>(t.nbytes()));
  if (!out) throw std::runtime_error(path + ": cannot write");
}

}  // namespace npy

#endif  // EMBER_EXAMPLES_CPP_NPY_H_
