// @generated automatically by Diesel CLI.

diesel::table! {
    create_requests (account_id, request_id) {
        account_id -> Text,
        request_id -> Text,
        fingerprint -> Bytea,
        resource_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    producers (account_id, id) {
        account_id -> Text,
        id -> Uuid,
        npn -> Text,
        producer_type -> Text,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        middle_name -> Nullable<Text>,
        suffix -> Nullable<Text>,
        gender -> Nullable<Text>,
        date_of_birth -> Nullable<Date>,
        ssn_ciphertext -> Nullable<Bytea>,
        ssn_key_id -> Nullable<Text>,
        ssn_blind_index -> Nullable<Bytea>,
        ssn_last4 -> Nullable<Text>,
        primary_email -> Nullable<Text>,
        secondary_email -> Nullable<Text>,
        title -> Nullable<Text>,
        firm_name -> Nullable<Text>,
        business_type -> Nullable<Text>,
        firm_email -> Nullable<Text>,
        fein -> Nullable<Text>,
        finra_crd_number -> Nullable<Text>,
        version -> Int8,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(create_requests, producers,);
