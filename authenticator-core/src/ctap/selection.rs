//! authenticatorSelection (CTAP 2.1 §6.9): the PC asks the user to pick this authenticator
//! among several by confirming presence on it.

use super::Context;
use super::status::CtapResult;
use crate::platform::UserOperation;

pub async fn selection(cx: &Context<'_>) -> CtapResult<()> {
    cx.prompts()
        .presence(UserOperation::Select, None, None)
        .await
}
