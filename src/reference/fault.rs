//! Test-only [`Fault`]s: each breaks exactly one rule of the contract, so the project's own tests
//! can show that every check fails when it should.

use std::fmt;
use std::str::FromStr;

/// A deliberate defect of the reference server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// S1: `createdBy` of operations is a number.
    CreatedByNumber,
    /// T1: timestamps use a space instead of `T`.
    TimestampSpaceSeparator,
    /// T2: key `createdAt` is 29 February of a common year.
    TimestampInvalidDate,
    /// T3: key `createdAt` is before 0001-01-01T00:00:00Z once the offset is applied.
    TimestampOutOfRange,
    /// T4: operation `modifiedAt` is a second before `createdAt`.
    ModifiedBeforeCreated,
    /// T5: timestamps carry the UTC digits under a +03:00 label (three hours early).
    ShiftedInstants,
    /// T6: timestamps are written with lower-case `t` and `z`.
    LowercaseDesignators,
    /// O1: a finished update operation carries an error next to its response.
    BothErrorAndResponse,
    /// O2: a finished operation carries neither error nor response.
    DoneWithoutResult,
    /// O3: an unfinished update operation already carries the response.
    ResponseWhilePending,
    /// O4 (must): operation metadata names another key.
    MetadataWrongKey,
    /// O4 (should): the metadata `@type` names the Delete message on an update.
    MetadataWrongType,
    /// O5 (must): the update response carries the description from before the update.
    StaleUpdateResponse,
    /// O5 (should): List shows the description from before the last update.
    StaleList,
    /// O6 (should): operations cannot be read back at /operations/{id}.
    OperationNotReadable,
    /// O6 (should): operations are forgotten once their key is deleted.
    ForgetsOperationsOfDeletedKeys,
    /// O6 (must): a finished update read back at /operations/{id} shows the key as it was
    /// before the update.
    OperationReadBackStale,
    /// O7: update operations never finish (deletes still do, so nothing is left behind).
    NeverCompletes,
    /// O8: operation descriptions are 300 characters long.
    LongOperationDescription,
    /// O9: `done` is written as a string (`"true"`, `"false"`).
    DoneNotBoolean,
    /// U1: descriptions are stored trimmed.
    TrimsDescription,
    /// U1: every non-ASCII character of a description is stored as `?`.
    ReplacesNonAscii,
    /// U2: a mask naming description, with no value in the body, keeps the old one.
    IgnoresReset,
    /// U3: without a mask, fields absent from the body are kept (merge).
    NoMaskMerges,
    /// U3: without a mask, nothing changes (the update is a no-op).
    NoMaskIsNoOp,
    /// U4: every update issues a new keyId.
    UpdateChangesKeyId,
    /// U4: body members named like key fields (`keyId`, `serviceAccountId`) are written onto
    /// the key, as an ORM's mass assignment does.
    MassAssignment,
    /// U4: a body `accessKeyId` names the key that is updated, instead of the path.
    BodyAccessKeyIdWins,
    /// U4: an update writes the key back without its `lastUsedAt` (an ORM saving the row
    /// from the request), so a used key reads as never used.
    UpdateForgetsLastUsed,
    /// U5: the description limit counts UTF-8 bytes.
    CountsBytes,
    /// U5: the description limit counts what a reader sees as characters: a combining mark
    /// (U+0300..U+036F) does not count, so 257 code points can pass.
    CountsGraphemes,
    /// U6: the description is stored before the mask is validated.
    AppliesBeforeRejecting,
    /// U7: mask paths spelled like a field name but naming none (`foo`) are ignored.
    IgnoresUnknownPaths,
    /// U9: updating an unknown key creates it.
    UpdateCreatesMissingKey,
    /// U10: wrongly typed fields are coerced to strings and non-object bodies read as `{}`.
    CoercesTypes,
    /// E1: NOT_FOUND is sent with HTTP 400.
    WrongHttpStatus,
    /// E2: requests without a valid token are served.
    SkipsAuth,
    /// E3: List answers 500 INTERNAL.
    ListInternalError,
    /// E4: answers are labelled `text/plain`.
    ContentTypeTextPlain,
    /// E4: error messages are written in Latin-1, not UTF-8.
    Latin1Messages,
    /// L1: List's next page starts one key too far on (offset paging off by one).
    ListPagingSkips,
    /// L2: List ignores `serviceAccountId` and shows every account's keys.
    ListIgnoresAccount,
    /// L3: List ignores `pageSize` and sends up to 100 keys a page.
    ListIgnoresPageSize,
    /// X1: Get returns the key's secret.
    SecretInGet,
    /// X1: plain AccessKeys (Get's answer, Create's `accessKey`, List items) carry the
    /// `"@type"` that belongs only to a key inside an operation's `response` (an Any).
    TypedPlainKeys,
    /// A1 (and E2): GET routes are served without looking at the token (auth middleware
    /// mounted on the mutating methods only).
    AuthOnlyOnMutations,
    /// A1: the presented token is accepted when it starts with a valid one (a prefix
    /// comparison), so a token with characters appended passes.
    TokenPrefixMatch,
    /// A2: ownership is checked where a key is looked up by id (Get, Update, Delete), not on
    /// Create, List, ListOperations or the operation read (object-level authorization on
    /// the item routes only).
    OwnershipCheckedOnKeysOnly,
    /// A3: the serviceAccountId filter is applied to the first page only (the next-page
    /// query is rebuilt from the token without it).
    ListFilterLostOnNextPage,
    /// A3: the serviceAccountId filter is an SQL LIKE: case-insensitive, `_` and `%`
    /// wildcards.
    AccountFilterUsesLike,
    /// G1: Delete marks the key deleted; only Get's query filters the mark, so List, Update
    /// and a second Delete still see the key.
    SoftDeleteSeenOnlyByGet,
    /// G1: Get is served from a cache that updates refresh but Delete does not invalidate.
    GetCacheKeptAfterDelete,
    /// G2 (and O5's should part): the collection routes (List, ListOperations) show each row
    /// as it was first written: keys with their first description, operations unfinished.
    ListsShowFirstWrite,
    /// I1: the Idempotency-Key is ignored: a repeated Create makes another key, a repeated
    /// Update or Delete starts another operation.
    IdempotencyIgnored,
    /// I1: answers are remembered by Idempotency-Key only on routes with an id in the path,
    /// so a repeated Create makes another key.
    IdempotencyOnlyWithId,
    /// P1: key ids are matched case-insensitively (a case-insensitive collation).
    IdsMatchedCaseInsensitively,
    /// E3: a page token the server cannot decode crashes List (500 INTERNAL instead of
    /// INVALID_ARGUMENT).
    BadPageTokenCrashes,
    /// E3: an id longer than the database column (50) fails the query with 500 INTERNAL on
    /// every route with an id, instead of NOT_FOUND.
    LongIdCrashes,
    /// U4: the paths of the mask are the columns copied from the body (mass assignment
    /// driven by the mask), so a mask naming serviceAccountId or keyId with a value moves
    /// the key.
    MaskedIdentityPathsApplied,
    /// O7: delete operations never finish (the key stays).
    DeletesNeverFinish,
    /// O2: operations end done with neither a response nor an error, and without their
    /// change.
    OperationsDoneWithoutEffect,
    /// O5: an update's operation answers with the new description, but the change is never
    /// stored.
    UpdateNeverCommitted,
    /// E1: error answers are sent with HTTP 200 (a Status body and a 200 status).
    ErrorsWithHttp200,
    /// L1: List refuses the page tokens it issues (an encoder and a decoder that disagree),
    /// so no walk gets past its first page.
    PageTokensRefused,
    /// I1: a mutation without an Idempotency-Key is remembered by its body, so two identical
    /// Creates without a key make one key.
    IdempotencyByBodyHash,
    /// E4: every answer is gzip-compressed (`Content-Encoding: gzip`) although the request
    /// accepts only `identity`.
    UnaskedGzip,
}

impl Fault {
    pub const ALL: [Fault; 66] = [
        Fault::CreatedByNumber,
        Fault::TimestampSpaceSeparator,
        Fault::TimestampInvalidDate,
        Fault::TimestampOutOfRange,
        Fault::ModifiedBeforeCreated,
        Fault::ShiftedInstants,
        Fault::LowercaseDesignators,
        Fault::BothErrorAndResponse,
        Fault::DoneWithoutResult,
        Fault::ResponseWhilePending,
        Fault::MetadataWrongKey,
        Fault::MetadataWrongType,
        Fault::StaleUpdateResponse,
        Fault::StaleList,
        Fault::OperationNotReadable,
        Fault::ForgetsOperationsOfDeletedKeys,
        Fault::OperationReadBackStale,
        Fault::NeverCompletes,
        Fault::LongOperationDescription,
        Fault::DoneNotBoolean,
        Fault::TrimsDescription,
        Fault::ReplacesNonAscii,
        Fault::IgnoresReset,
        Fault::NoMaskMerges,
        Fault::NoMaskIsNoOp,
        Fault::UpdateChangesKeyId,
        Fault::MassAssignment,
        Fault::BodyAccessKeyIdWins,
        Fault::UpdateForgetsLastUsed,
        Fault::CountsBytes,
        Fault::CountsGraphemes,
        Fault::AppliesBeforeRejecting,
        Fault::IgnoresUnknownPaths,
        Fault::UpdateCreatesMissingKey,
        Fault::CoercesTypes,
        Fault::WrongHttpStatus,
        Fault::SkipsAuth,
        Fault::ListInternalError,
        Fault::ContentTypeTextPlain,
        Fault::Latin1Messages,
        Fault::ListPagingSkips,
        Fault::ListIgnoresAccount,
        Fault::ListIgnoresPageSize,
        Fault::SecretInGet,
        Fault::TypedPlainKeys,
        Fault::AuthOnlyOnMutations,
        Fault::TokenPrefixMatch,
        Fault::OwnershipCheckedOnKeysOnly,
        Fault::ListFilterLostOnNextPage,
        Fault::AccountFilterUsesLike,
        Fault::SoftDeleteSeenOnlyByGet,
        Fault::GetCacheKeptAfterDelete,
        Fault::ListsShowFirstWrite,
        Fault::IdempotencyIgnored,
        Fault::IdempotencyOnlyWithId,
        Fault::IdsMatchedCaseInsensitively,
        Fault::BadPageTokenCrashes,
        Fault::LongIdCrashes,
        Fault::MaskedIdentityPathsApplied,
        Fault::DeletesNeverFinish,
        Fault::OperationsDoneWithoutEffect,
        Fault::UpdateNeverCommitted,
        Fault::ErrorsWithHttp200,
        Fault::UnaskedGzip,
        Fault::IdempotencyByBodyHash,
        Fault::PageTokensRefused,
    ];

    /// The rules this fault breaks, the one it was written for first: a run against it must
    /// report each of them (and nothing else but [`Fault::may_also`]). Some defects break
    /// two rules at once: a server that skips auth breaks E2 and A1, a List that ignores
    /// the account breaks L2 and A3.
    pub fn rules(self) -> &'static [&'static str] {
        use Fault::*;
        match self {
            CreatedByNumber => &["S1"],
            TimestampSpaceSeparator => &["T1"],
            TimestampInvalidDate => &["T2"],
            TimestampOutOfRange => &["T3"],
            ModifiedBeforeCreated => &["T4"],
            ShiftedInstants => &["T5"],
            LowercaseDesignators => &["T6"],
            BothErrorAndResponse => &["O1"],
            DoneWithoutResult => &["O2"],
            ResponseWhilePending => &["O3"],
            MetadataWrongKey | MetadataWrongType => &["O4"],
            // Every other read path then differs from the response (G2).
            StaleUpdateResponse => &["O5", "G2"],
            StaleList => &["O5", "G2"],
            OperationNotReadable | ForgetsOperationsOfDeletedKeys => &["O6"],
            // The operation read path shows another key than Get (G2).
            OperationReadBackStale => &["O6", "G2"],
            NeverCompletes => &["O7"],
            LongOperationDescription => &["O8"],
            DoneNotBoolean => &["O9"],
            TrimsDescription | ReplacesNonAscii => &["U1"],
            IgnoresReset => &["U2"],
            NoMaskMerges | NoMaskIsNoOp => &["U3"],
            UpdateChangesKeyId | MassAssignment | BodyAccessKeyIdWins | UpdateForgetsLastUsed => {
                &["U4"]
            }
            CountsBytes | CountsGraphemes => &["U5"],
            AppliesBeforeRejecting => &["U6"],
            IgnoresUnknownPaths => &["U7"],
            // It also makes a key of a near-miss id (P1).
            UpdateCreatesMissingKey => &["U9", "G1", "P1"],
            CoercesTypes => &["U10"],
            WrongHttpStatus => &["E1"],
            SkipsAuth | AuthOnlyOnMutations => &["E2", "A1"],
            ListInternalError => &["E3"],
            ContentTypeTextPlain | Latin1Messages => &["E4"],
            ListPagingSkips | PageTokensRefused => &["L1"],
            ListIgnoresAccount => &["L2", "A3"],
            ListIgnoresPageSize => &["L3"],
            SecretInGet => &["X1"],
            TypedPlainKeys => &["X1"],
            TokenPrefixMatch => &["A1"],
            OwnershipCheckedOnKeysOnly => &["A2"],
            ListFilterLostOnNextPage | AccountFilterUsesLike => &["A3"],
            // The Update of a deleted key (U9's case) is accepted too.
            SoftDeleteSeenOnlyByGet => &["G1", "U9"],
            GetCacheKeptAfterDelete => &["G1"],
            ListsShowFirstWrite => &["G2", "O5"],
            IdempotencyIgnored | IdempotencyOnlyWithId | IdempotencyByBodyHash => &["I1"],
            IdsMatchedCaseInsensitively => &["P1"],
            BadPageTokenCrashes | LongIdCrashes => &["E3"],
            MaskedIdentityPathsApplied => &["U4"],
            DeletesNeverFinish => &["O7"],
            OperationsDoneWithoutEffect => &["O2"],
            UpdateNeverCommitted => &["O5"],
            ErrorsWithHttp200 => &["E1"],
            UnaskedGzip => &["E4"],
        }
    }

    /// Rules a run may also report against this fault, depending on the order in which the
    /// run's trials met it (a List walk of the suite may or may not land on a leaked page).
    pub fn may_also(self) -> &'static [&'static str] {
        match self {
            Fault::ListFilterLostOnNextPage => &["L2"],
            // U9's deleted-key case reads the key back through Get, which the cache may
            // serve if the key was read before.
            Fault::GetCacheKeptAfterDelete => &["U9"],
            // modifiedAt a second before createdAt is a second early, which T5 sees whenever
            // the target's Date header narrows its clock offset enough.
            Fault::ModifiedBeforeCreated => &["T5"],
            // The key an Update of a deleted key makes has a new createdAt, outside the
            // window of the Create of its id (T5), when a later read shows it.
            Fault::UpdateCreatesMissingKey => &["T5"],
            _ => &[],
        }
    }

    /// The kebab-case name used by `serve --fault`.
    pub fn name(self) -> String {
        let debug = format!("{self:?}");
        let mut out = String::new();
        for (i, c) in debug.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fault::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<String> = Fault::ALL.iter().map(|f| f.name()).collect();
                format!("unknown fault `{s}`; known faults: {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_rules_exist() {
        for fault in Fault::ALL {
            assert_eq!(fault.name().parse::<Fault>(), Ok(fault));
            for rule in fault.rules().iter().chain(fault.may_also()) {
                assert!(
                    crate::contract::rules::find(rule).is_some(),
                    "{fault}: {rule}"
                );
            }
        }
        assert!("no-such".parse::<Fault>().is_err());
    }
}
