//! What each rule means, in the project's words, and the public source it comes from: what
//! `explain RULE` and `rules` print.

/// The rules every answer of a run is held to (the checks each response gets), whichever
/// trial sent the request.
pub const EVERY_ANSWER: &[&str] = &[
    "S1", "T1", "T2", "T3", "T5", "O1", "O2", "O3", "O4", "O8", "O9", "E1", "E3", "E4", "L2", "X1",
];

/// One rule explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explanation {
    pub id: &'static str,
    /// One paragraph: what the rule asks of a target and why a client cares.
    pub meaning: &'static str,
    /// Where the rule comes from.
    pub source: &'static str,
}

const REFERENCE: &str = "the AccessKey.Update API reference page";
const PROTOS: &str =
    "yandex-cloud/cloudapi protos (access_key.proto, access_key_service.proto, operation.proto)";
const RFC3339: &str = "RFC 3339 (date-time) and google.protobuf.Timestamp";
const GUIDE: &str = "the Yandex Cloud API design guide";

/// Every rule's explanation, in the order of the rule table.
pub static EXPLANATIONS: &[Explanation] = &[
    Explanation {
        id: "S1",
        meaning: "Every answer has the shape the reference documents: the fields it names, with their JSON types (strings, booleans, objects), as the schemas in schemas/ write them down. A generated client decodes answers by these types, so a number where a string belongs breaks it.",
        source: REFERENCE,
    },
    Explanation {
        id: "T1",
        meaning: "Every timestamp follows the date-time grammar of RFC 3339: date, `T`, time, up to nine fractional digits, and `Z` or a numeric offset. A space for `T`, a missing offset or a tenth digit is not a timestamp a protobuf parser reads.",
        source: RFC3339,
    },
    Explanation {
        id: "T2",
        meaning: "Every timestamp names a real instant: a day that exists in its month (leap years counted), hours 00-23, minutes and seconds 00-59 (protobuf timestamps have no leap second), offsets within a day.",
        source: RFC3339,
    },
    Explanation {
        id: "T3",
        meaning: "Every timestamp, once its offset is applied, lies within the range a protobuf Timestamp can hold: from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.",
        source: RFC3339,
    },
    Explanation {
        id: "T4",
        meaning: "Later stamps do not come before earlier ones: an operation's modifiedAt is not before its createdAt, a key's lastUsedAt not before its createdAt.",
        source: PROTOS,
    },
    Explanation {
        id: "T5",
        meaning: "Timestamps tell the true time: what a mutation stamps (a new key's createdAt, an operation's createdAt and modifiedAt) lies between when the request left and when the answer showing it arrived, widened by the target's clock offset (its Date header narrows it, --clock-tolerance bounds it). A wrong offset label, local time written as UTC or seconds taken for milliseconds land far away.",
        source: RFC3339,
    },
    Explanation {
        id: "T6",
        meaning: "The `T` and `Z` of a timestamp are upper case. RFC 3339 allows lower case, but the protobuf JSON parsers of the official SDKs refuse it.",
        source: "RFC 3339 and the protobuf JSON parsers of the SDKs",
    },
    Explanation {
        id: "O1",
        meaning: "An operation never carries both `error` and `response`: they are two branches of one oneof.",
        source: PROTOS,
    },
    Explanation {
        id: "O2",
        meaning: "A finished operation (done true) carries exactly one of `error` and `response`: its result. A client that sees done and no result cannot tell whether the update happened.",
        source: PROTOS,
    },
    Explanation {
        id: "O3",
        meaning: "An unfinished operation (done false or absent) carries no `response`; an early `error` is allowed.",
        source: PROTOS,
    },
    Explanation {
        id: "O4",
        meaning: "An operation's metadata names the key the request named (`metadata.accessKeyId`); where `@type` is present it names the right messages (UpdateAccessKeyMetadata and AccessKey for Update, DeleteAccessKeyMetadata and Empty for Delete, a should).",
        source: PROTOS,
    },
    Explanation {
        id: "O5",
        meaning: "When an Update's operation ends with a response, it is the updated key: the key of the path, with the new description, equal to what Get returns afterwards (lastUsedAt aside). As a should, List shows it the same way.",
        source: REFERENCE,
    },
    Explanation {
        id: "O6",
        meaning: "A finished operation read back at /operations/{id} is the same operation: same id, still done, the same response or error (must). It can be read back at all, also after its key was deleted, and done never turns back to false (should); a few NOT_FOUND answers in the first moments are tolerated.",
        source: "operation.proto and the operation service of the design guide",
    },
    Explanation {
        id: "O7",
        meaning: "An unfinished operation finishes within --operation-timeout, polled at the interval x-operation-poll-interval asks for (or about a second). Once one operation of a kind outlives the timeout, the others of that kind are not waited for: the first finding stands for them.",
        source: GUIDE,
    },
    Explanation {
        id: "O8",
        meaning: "An operation has a non-empty id, and its description is at most 256 characters.",
        source: PROTOS,
    },
    Explanation {
        id: "O9",
        meaning: "An operation's envelope can be read: a JSON object with a string id and a boolean done. One that cannot is reported at once and never polled.",
        source: PROTOS,
    },
    Explanation {
        id: "U1",
        meaning: "With `description` in the mask and a value in the body, the description becomes exactly that value, code point for code point: spaces, case and any Unicode kept.",
        source: REFERENCE,
    },
    Explanation {
        id: "U2",
        meaning: "With `description` in the mask and no value in the body (absent or null), the description is reset to the empty string.",
        source: "the reference page and google.protobuf.FieldMask",
    },
    Explanation {
        id: "U3",
        meaning: "Without an updateMask the update replaces the whole resource: the description becomes the body's value, or empty when the body has none.",
        source: "google.protobuf.FieldMask and AIP-134",
    },
    Explanation {
        id: "U4",
        meaning: "An Update never changes id, serviceAccountId, createdAt or keyId, whatever the body or the mask names, and no other key; lastUsedAt only ever moves forward. The path names the resource: a body accessKeyId naming another key leaves that key as it was.",
        source: REFERENCE,
    },
    Explanation {
        id: "U5",
        meaning: "The description limit counts characters (Unicode code points): 256 are accepted whatever their size in bytes, 257 are refused with INVALID_ARGUMENT.",
        source: REFERENCE,
    },
    Explanation {
        id: "U6",
        meaning: "An Update that is refused, by an HTTP error or by an operation ending in error, changes nothing: the key reads back as it was.",
        source: GUIDE,
    },
    Explanation {
        id: "U7",
        meaning: "A mask path that names no field at all (such as `foo`) is refused with INVALID_ARGUMENT, not ignored.",
        source: "AIP-134 and AIP-161",
    },
    Explanation {
        id: "U8",
        meaning: "Inputs the sources leave open (an empty or `*` mask, padded, snake_case or other-case paths, empty segments, output-only paths, duplicates, unknown body fields) are refused with INVALID_ARGUMENT or get one documented reading; which one the target chose is recorded. Any other effect fails, and a refusal must still change nothing.",
        source: "google.protobuf.FieldMask, AIP-134 and AIP-161",
    },
    Explanation {
        id: "U9",
        meaning: "An Update of a key that does not exist, or was deleted, is refused with NOT_FOUND or PERMISSION_DENIED and creates nothing.",
        source: REFERENCE,
    },
    Explanation {
        id: "U10",
        meaning: "A body that is not a JSON object, or a field of the wrong JSON type, is refused with INVALID_ARGUMENT rather than read loosely.",
        source: "the proto3 JSON mapping",
    },
    Explanation {
        id: "E1",
        meaning: "Every error is a google.rpc.Status (an integer code, a string message, a details array) and its HTTP status matches its code (NOT_FOUND 404, INVALID_ARGUMENT 400, UNAUTHENTICATED 401, ...). An error sent with a 2xx status is judged as the error it is.",
        source: "google.rpc.Status and the gRPC-HTTP mapping of the design guide",
    },
    Explanation {
        id: "E2",
        meaning: "A request without credentials, or with a token no IAM issued, is answered UNAUTHENTICATED (401) on every route and changes nothing.",
        source: GUIDE,
    },
    Explanation {
        id: "E3",
        meaning: "No request the harness sends is answered with a server error (5xx). 429 and 503 are retried first, and a gateway's 502 or 504 too; one that persists is a harness error, not this rule's failure. Malformed ids and List parameters must get a client error, not a crash.",
        source: GUIDE,
    },
    Explanation {
        id: "E4",
        meaning: "Every JSON answer is labelled Content-Type application/json (parameters allowed) and its body is valid UTF-8 JSON, in no content-coding the request did not accept (the harness sends Accept-Encoding: identity).",
        source: "RFC 8259, RFC 9110 and the design guide",
    },
    Explanation {
        id: "X1",
        meaning: "No answer but Create's ever holds a key's secret, under any name, and access keys carry no field beyond the documented ones, where a secret could hide.",
        source: REFERENCE,
    },
    Explanation {
        id: "A1",
        meaning: "Every route refuses a token that is not exactly a valid one with UNAUTHENTICATED (401): the valid token with characters appended, cut short, in other letter case, or under another scheme such as Basic. Whether `bearer` in lower case is accepted is recorded only (HTTP scheme names are case-insensitive).",
        source: "the design guide and RFC 9110",
    },
    Explanation {
        id: "A2",
        meaning: "A second account's token, aimed at this account's key, operation or service account, is refused on every route with PERMISSION_DENIED or NOT_FOUND, and changes nothing. It needs the second account's credentials (--alt-token and kin).",
        source: GUIDE,
    },
    Explanation {
        id: "A3",
        meaning: "List filtered by one service account shows only that account's keys on every page of the walk, while keys of another account exist; a near-miss account id (other letter case, a character replaced by `_` or `%`, cut short) lists none of them.",
        source: "the ListAccessKeys method of the access key service",
    },
    Explanation {
        id: "G1",
        meaning: "Once a Delete's operation is done, the key is gone on every path that names it, at once and still a moment later: Get, Update and a second Delete are refused (NOT_FOUND or PERMISSION_DENIED), no page of List shows it; the operations that acted on it stay readable.",
        source: GUIDE,
    },
    Explanation {
        id: "G2",
        meaning: "Once an Update's operation is done, every read path shows the same key: Get, its entry in List, the operation read back and listed among the key's operations.",
        source: GUIDE,
    },
    Explanation {
        id: "I1",
        meaning: "A Create, Update or Delete sent again with the same Idempotency-Key and body acts once: the same key (and no second one), the same operation. Requests without the key, or with other keys, are other requests and act anew.",
        source: GUIDE,
    },
    Explanation {
        id: "I2",
        meaning: "What a target does with the same Idempotency-Key and another body (refuses it, answers the first again, or acts anew) is recorded, never judged.",
        source: GUIDE,
    },
    Explanation {
        id: "P1",
        meaning: "An id in a path is matched exactly: the key's id (or an operation's) with its letter case changed, a path segment appended or cut short names no resource (NOT_FOUND, PERMISSION_DENIED or INVALID_ARGUMENT) and changes nothing.",
        source: GUIDE,
    },
    Explanation {
        id: "L1",
        meaning: "Walking List for one account page by page (small pageSize, following nextPageToken until it is empty) shows each of its keys exactly once while no key comes or goes.",
        source: "the ListAccessKeys method and AIP-158",
    },
    Explanation {
        id: "L2",
        meaning: "List filtered by serviceAccountId shows only that account's keys: every answer of the run is held to it.",
        source: "the ListAccessKeys method of the access key service",
    },
    Explanation {
        id: "L3",
        meaning: "A page holds at most pageSize keys (the documented lowerCamelCase parameter); a short page may still carry a token, an empty last page is valid, and the token is opaque.",
        source: "AIP-158",
    },
];

/// The explanation of rule `id`.
pub fn of(id: &str) -> Option<&'static Explanation> {
    EXPLANATIONS.iter().find(|e| e.id.eq_ignore_ascii_case(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_explained_once_with_a_source() {
        for rule in super::super::RULES {
            let found: Vec<_> = EXPLANATIONS.iter().filter(|e| e.id == rule.id).collect();
            assert_eq!(found.len(), 1, "{}", rule.id);
            assert!(found[0].meaning.len() > 40, "{}", rule.id);
            assert!(!found[0].source.is_empty(), "{}", rule.id);
        }
        assert_eq!(EXPLANATIONS.len(), super::super::RULES.len());
    }
}
