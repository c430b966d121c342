//! The requests of the 20 child RPCs, reduced to what the shared flow reads. Every
//! collection's five requests have the same fields under names of their own
//! (`address` / `phone`, `address_id` / `phone_id`), so each request type gives its
//! parts as [`ChildArgs`], and every handler is the same call on [`super::ChildCall`].

use prost::Message;
use prost_types::FieldMask;

use super::ChildResource;
use crate::domain::address::Addresses;
use crate::domain::bank_account::BankAccounts;
use crate::domain::insurance_policy::InsurancePolicies;
use crate::domain::phone::Phones;
use crate::proto::v1 as pb;

/// What a child RPC's request holds; a part the RPC does not have stays empty.
pub struct ChildArgs<M> {
    /// `producer_id`.
    pub producer_id: String,
    /// The child's id (`address_id`, …).
    pub child_id: String,
    /// The child message (`address`, …).
    pub child: Option<M>,
    /// `update_mask`.
    pub update_mask: Option<FieldMask>,
    /// `producer_etag`.
    pub producer_etag: String,
    /// `page_size`.
    pub page_size: i32,
    /// `page_token`.
    pub page_token: String,
}

impl<M> Default for ChildArgs<M> {
    fn default() -> Self {
        Self {
            producer_id: String::new(),
            child_id: String::new(),
            child: None,
            update_mask: None,
            producer_etag: String::new(),
            page_size: 0,
            page_token: String::new(),
        }
    }
}

/// One child RPC's request type.
pub trait ChildRequest: Message + Send + 'static {
    /// The collection it is about.
    type Resource: ChildResource;
    /// The RPC's name: it keys the request's idempotency fingerprint.
    const RPC: &'static str;
    /// The `request_id`, for the RPCs that take one.
    fn request_id(&mut self) -> Option<&mut String>;
    /// The other parts.
    fn into_args(self) -> ChildArgs<<Self::Resource as ChildResource>::Message>;
}

/// Implements [`ChildRequest`] for one request type: its collection, its RPC, whether it
/// takes a `request_id`, and which of its fields fill which [`ChildArgs`] parts.
/// (Field access across generated types is the one thing generics cannot express.)
macro_rules! child_request {
    ($request:ident, $resource:ty, $rpc:literal, idempotent: $idempotent:tt,
     { $($part:ident: $field:ident),* }) => {
        impl ChildRequest for pb::$request {
            type Resource = $resource;
            const RPC: &'static str = $rpc;
            fn request_id(&mut self) -> Option<&mut String> {
                child_request!(@request_id self $idempotent)
            }
            fn into_args(self) -> ChildArgs<<$resource as ChildResource>::Message> {
                ChildArgs {
                    $($part: self.$field,)*
                    ..ChildArgs::default()
                }
            }
        }
    };
    (@request_id $self:ident yes) => { Some(&mut $self.request_id) };
    (@request_id $self:ident no) => { None };
}

/// The five requests of one collection, whose message and id fields are `$child` and
/// `$id`.
macro_rules! child_requests {
    ($resource:ty, $child:ident, $id:ident,
     $create:ident $create_rpc:literal, $get:ident $get_rpc:literal, $list:ident $list_rpc:literal,
     $update:ident $update_rpc:literal, $delete:ident $delete_rpc:literal) => {
        child_request!($create, $resource, $create_rpc, idempotent: yes,
            { producer_id: producer_id, child: $child, producer_etag: producer_etag });
        child_request!($get, $resource, $get_rpc, idempotent: no,
            { producer_id: producer_id, child_id: $id });
        child_request!($list, $resource, $list_rpc, idempotent: no,
            { producer_id: producer_id, page_size: page_size, page_token: page_token });
        child_request!($update, $resource, $update_rpc, idempotent: yes,
            { producer_id: producer_id, child_id: $id, child: $child,
              update_mask: update_mask, producer_etag: producer_etag });
        child_request!($delete, $resource, $delete_rpc, idempotent: yes,
            { producer_id: producer_id, child_id: $id, producer_etag: producer_etag });
    };
}

child_requests!(Addresses, address, address_id,
    CreateAddressRequest "CreateAddress", GetAddressRequest "GetAddress",
    ListAddressesRequest "ListAddresses", UpdateAddressRequest "UpdateAddress",
    DeleteAddressRequest "DeleteAddress");
child_requests!(Phones, phone, phone_id,
    CreatePhoneRequest "CreatePhone", GetPhoneRequest "GetPhone",
    ListPhonesRequest "ListPhones", UpdatePhoneRequest "UpdatePhone",
    DeletePhoneRequest "DeletePhone");
child_requests!(BankAccounts, bank_account, bank_account_id,
    CreateBankAccountRequest "CreateBankAccount", GetBankAccountRequest "GetBankAccount",
    ListBankAccountsRequest "ListBankAccounts", UpdateBankAccountRequest "UpdateBankAccount",
    DeleteBankAccountRequest "DeleteBankAccount");
child_requests!(InsurancePolicies, insurance_policy, insurance_policy_id,
    CreateInsurancePolicyRequest "CreateInsurancePolicy",
    GetInsurancePolicyRequest "GetInsurancePolicy",
    ListInsurancePoliciesRequest "ListInsurancePolicies",
    UpdateInsurancePolicyRequest "UpdateInsurancePolicy",
    DeleteInsurancePolicyRequest "DeleteInsurancePolicy");
