/*!
 * \file tensor_view.h
 * \brief Views of a tensor (Relax's `R.memory.view`) that TVM's generated kernels accept.
 */
#ifndef EMBER_RUNTIME_CPP_SRC_TENSOR_VIEW_H_
#define EMBER_RUNTIME_CPP_SRC_TENSOR_VIEW_H_

namespace ember {

/*!
 * \brief Replace `runtime.TVMTensorCreateView`, which the VM calls for `R.memory.view`, by one
 *        that moves the data pointer instead of setting `byte_offset`. Call once the TVM
 *        runtime is loaded (its own definition would otherwise replace this one).
 *
 * TVM's generated kernels take only tensors whose `byte_offset` is 0, so a view at an offset
 * (one layer's slice of a decoder's stacked cache) made TVM's way fails in the first kernel
 * that reads it. DLPack allows the pointer itself to move on CPU and CUDA memory.
 */
void UseOffsetFreeViews();

}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_SRC_TENSOR_VIEW_H_
