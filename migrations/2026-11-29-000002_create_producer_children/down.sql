DROP TABLE insurance_policies;
DROP TABLE bank_accounts;
DROP TABLE phones;
DROP TABLE addresses;
