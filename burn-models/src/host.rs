//! Reading tensors back to the host: every read of a model output goes through here.
//!
//! Natively a read blocks until the device is done. In a browser, WebGPU hands buffers back
//! only asynchronously (`mapAsync`), and Burn's synchronous `into_data` panics there: a read
//! that is not ready at once is awaited by suspending the WebAssembly stack until the
//! browser has the data (JavaScript Promise Integration), so the synchronous pipelines run
//! unchanged when they were entered through a suspendable (JSPI) export. CPU reads in the
//! browser are ready at once and never suspend.

use burn::tensor::kind::Basic;
use burn::tensor::{Element, Tensor, TensorData};

/// Reads of tensors to the host that also work on WebGPU in a browser.
pub trait HostRead {
    /// The tensor's values on the host, as `Tensor::into_data` (and panicking as it does
    /// when the device fails).
    fn into_host_data(self) -> TensorData;

    /// The single value of a one-element tensor, as `Tensor::into_scalar`.
    fn into_host_scalar<E: Element>(self) -> E;
}

impl<const D: usize, K: Basic + 'static> HostRead for Tensor<D, K> {
    fn into_host_data(self) -> TensorData {
        #[cfg(all(target_family = "wasm", feature = "wgpu"))]
        {
            browser::into_data(self)
        }
        #[cfg(not(all(target_family = "wasm", feature = "wgpu")))]
        {
            self.into_data()
        }
    }

    fn into_host_scalar<E: Element>(self) -> E {
        let values = self
            .into_host_data()
            .convert::<E>()
            .try_into_vec::<E>()
            .expect("converted to E");
        assert_eq!(
            values.len(),
            1,
            "a scalar read from a tensor of {} values",
            values.len()
        );
        values[0]
    }
}

#[cfg(all(target_family = "wasm", feature = "wgpu"))]
mod browser {
    use std::cell::RefCell;
    use std::future::Future;
    use std::rc::Rc;
    use std::task::{Context, Poll, Waker};

    use burn::tensor::kind::Basic;
    use burn::tensor::{Tensor, TensorData};
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen(inline_js = "export function settle(promise) { return promise; }")]
    extern "C" {
        /// Suspends the calling WebAssembly stack until `promise` settles.
        #[wasm_bindgen(suspending, catch)]
        fn settle(promise: &js_sys::Promise) -> Result<JsValue, JsValue>;
    }

    pub(super) fn into_data<const D: usize, K: Basic + 'static>(
        tensor: Tensor<D, K>,
    ) -> TensorData {
        const READ_FAILED: &str = "reading a tensor from the device";
        let mut read = Box::pin(tensor.into_data_async());
        // CPU tensors (and GPU reads already done) are ready on the first poll.
        if let Poll::Ready(data) = read.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            return data.expect(READ_FAILED);
        }
        let slot: Rc<RefCell<Option<TensorData>>> = Rc::default();
        let filled = slot.clone();
        let promise = wasm_bindgen_futures::future_to_promise(async move {
            let data = read
                .await
                .map_err(|e| JsValue::from_str(&format!("{e:?}")))?;
            *filled.borrow_mut() = Some(data);
            Ok(JsValue::UNDEFINED)
        });
        if let Err(e) = settle(&promise) {
            panic!(
                "{READ_FAILED}: {e:?} (on WebGPU a pipeline must be run through a suspendable \
                 (JSPI) export)"
            );
        }
        slot.borrow_mut().take().expect(READ_FAILED)
    }
}
