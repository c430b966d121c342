// @generated automatically by Diesel CLI.

diesel::table! {
    addresses (account_id, producer_id, id) {
        account_id -> Text,
        producer_id -> Uuid,
        id -> Uuid,
        address_type -> Text,
        preferred -> Bool,
        address_line1 -> Text,
        address_line2 -> Nullable<Text>,
        city -> Text,
        state -> Nullable<Text>,
        zip -> Nullable<Text>,
        country -> Text,
        county -> Nullable<Text>,
        move_in_date -> Nullable<Date>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    bank_accounts (account_id, producer_id, id) {
        account_id -> Text,
        producer_id -> Uuid,
        id -> Uuid,
        bank_name -> Text,
        holder_name -> Text,
        routing_number -> Text,
        number_ciphertext -> Bytea,
        number_key_id -> Text,
        number_last4 -> Text,
        account_type -> Text,
        nickname -> Nullable<Text>,
        primary_account -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

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
    event_log_state (singleton) {
        singleton -> Bool,
        purged_through -> Int8,
    }
}

diesel::table! {
    events (position) {
        position -> Int8,
        id -> Uuid,
        account_id -> Text,
        producer_id -> Uuid,
        sequence -> Int8,
        event_type -> Text,
        resource_id -> Uuid,
        occurred_at -> Timestamptz,
        payload -> Bytea,
        traceparent -> Nullable<Text>,
        published_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    insurance_policies (account_id, producer_id, id) {
        account_id -> Text,
        producer_id -> Uuid,
        id -> Uuid,
        carrier -> Text,
        policy_number -> Text,
        certificate_number -> Nullable<Text>,
        policy_type -> Text,
        total_limit -> Nullable<Numeric>,
        effective_date -> Date,
        expiry_date -> Date,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    phones (account_id, producer_id, id) {
        account_id -> Text,
        producer_id -> Uuid,
        id -> Uuid,
        phone_type -> Text,
        number -> Text,
        extension -> Nullable<Text>,
        preferred -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
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

diesel::table! {
    request_keys (account_id, request_id) {
        account_id -> Text,
        request_id -> Text,
        fingerprint -> Bytea,
        response_ciphertext -> Nullable<Bytea>,
        response_key_id -> Nullable<Text>,
        producer_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Uuid,
        delivery_id -> Uuid,
        endpoint_id -> Uuid,
        attempted_at -> Timestamptz,
        status_code -> Nullable<Int4>,
        latency_ms -> Int8,
        error -> Nullable<Text>,
        response_body -> Text,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Uuid,
        account_id -> Text,
        endpoint_id -> Uuid,
        event_id -> Uuid,
        producer_id -> Uuid,
        sequence -> Int8,
        webhook_type -> Text,
        body -> Text,
        traceparent -> Nullable<Text>,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        leased_until -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        lease_token -> Nullable<Uuid>,
    }
}

diesel::table! {
    webhook_endpoints (account_id, id) {
        account_id -> Text,
        id -> Uuid,
        url -> Text,
        description -> Nullable<Text>,
        event_types -> Array<Nullable<Text>>,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        rate_limit_per_second -> Nullable<Int4>,
        secret_ciphertext -> Bytea,
        secret_key_id -> Text,
        previous_secret_ciphertext -> Nullable<Bytea>,
        previous_secret_key_id -> Nullable<Text>,
        previous_secret_expires_at -> Nullable<Timestamptz>,
        failing_since -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        paused_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_intake_offsets (topic, partition) {
        topic -> Text,
        partition -> Int4,
        next_offset -> Int8,
        last_event_id -> Nullable<Uuid>,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));

diesel::allow_tables_to_appear_in_same_query!(
    addresses,
    bank_accounts,
    create_requests,
    event_log_state,
    events,
    insurance_policies,
    phones,
    producers,
    request_keys,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_intake_offsets,
);
