//! The REST surface as data: every [`Route`] of the access keys API, described once. The
//! checkers of the rules that hold on every route (A1-A3, E2, G1, G2, I1, I2, P1) read these
//! attributes to decide which routes they cover and how to aim at each, so that a route added
//! here gets every checker that applies to it, and a checker added later gets every route.

use super::DocKind;

/// Which base URL a route lives under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// The IAM base URL.
    Iam,
    /// The operation service's base URL.
    Operation,
}

/// What a route must be aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aim {
    /// A service account: in the query (List) or in the body (Create).
    Account,
    /// An access key, by id in the path.
    Key,
    /// An operation, by id in the path.
    Operation,
}

/// What a route does to the keys when it succeeds, and so how to tell afterwards that it
/// acted: a new key is found by the marker in its description (List), a changed key by
/// reading it back (Get), a deleted one by its absence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Reads,
    Creates,
    Changes,
    Deletes,
}

/// Where a successful answer of a read path shows the key it was aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shows {
    /// The body is the key.
    Key,
    /// The key is an entry of `accessKeys` (on some page).
    ListEntry,
    /// The operation's `response` is the key (an Update's operation).
    OperationResponse,
    /// The operation is an entry of `operations`, its `response` the key.
    OperationsEntry,
    /// A mutation: its answer shows no stored state.
    Nothing,
}

/// What the contract says a route does once the key it names has been deleted (G1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterDelete {
    /// Refused with NOT_FOUND or PERMISSION_DENIED (either form of rejection).
    Refuses,
    /// Answers, but no page shows the key.
    Unlists,
    /// The operations that acted on the key stay readable, the same operations (O6).
    KeepsOperations,
    /// The contract leaves it open: the answer is recorded as an observation.
    Open,
    /// The route names no key (Create).
    Unaimed,
}

/// One route of the REST surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// As reports name it (`Get`, `ListOperations`, ...).
    pub name: &'static str,
    pub method: &'static str,
    /// Relative to its host; `{accessKeyId}` and `{operationId}` stand for the ids.
    pub path: &'static str,
    pub host: Host,
    pub aim: Aim,
    pub effect: Effect,
    /// The document a successful answer is; `None`: the kind of the operation aimed at.
    pub answer: Option<DocKind>,
    pub shows: Shows,
    pub after_delete: AfterDelete,
}

impl Route {
    /// A mutation (POST, PATCH, DELETE): it carries an Idempotency-Key and must change
    /// nothing when it is refused.
    pub fn mutates(&self) -> bool {
        self.effect != Effect::Reads
    }

    /// Whether the request carries a JSON body (Create, Update).
    pub fn has_body(&self) -> bool {
        matches!(self.effect, Effect::Creates | Effect::Changes)
    }

    /// Whether an id stands in its path.
    pub fn names_an_id(&self) -> bool {
        matches!(self.aim, Aim::Key | Aim::Operation)
    }
}

const KEYS: &str = "/iam/aws-compatibility/v1/accessKeys";

/// Every route, in the order of the reference's method list.
pub static ROUTES: &[Route] = &[
    Route {
        name: "Create",
        method: "POST",
        path: KEYS,
        host: Host::Iam,
        aim: Aim::Account,
        effect: Effect::Creates,
        answer: Some(DocKind::CreateResponse),
        shows: Shows::Nothing,
        after_delete: AfterDelete::Unaimed,
    },
    Route {
        name: "Get",
        method: "GET",
        path: "/iam/aws-compatibility/v1/accessKeys/{accessKeyId}",
        host: Host::Iam,
        aim: Aim::Key,
        effect: Effect::Reads,
        answer: Some(DocKind::AccessKey),
        shows: Shows::Key,
        after_delete: AfterDelete::Refuses,
    },
    Route {
        name: "List",
        method: "GET",
        path: KEYS,
        host: Host::Iam,
        aim: Aim::Account,
        effect: Effect::Reads,
        answer: Some(DocKind::ListResponse),
        shows: Shows::ListEntry,
        after_delete: AfterDelete::Unlists,
    },
    Route {
        name: "Update",
        method: "PATCH",
        path: "/iam/aws-compatibility/v1/accessKeys/{accessKeyId}",
        host: Host::Iam,
        aim: Aim::Key,
        effect: Effect::Changes,
        answer: Some(DocKind::UpdateOperation),
        shows: Shows::Nothing,
        after_delete: AfterDelete::Refuses,
    },
    Route {
        name: "Delete",
        method: "DELETE",
        path: "/iam/aws-compatibility/v1/accessKeys/{accessKeyId}",
        host: Host::Iam,
        aim: Aim::Key,
        effect: Effect::Deletes,
        answer: Some(DocKind::DeleteOperation),
        shows: Shows::Nothing,
        after_delete: AfterDelete::Refuses,
    },
    Route {
        name: "ListOperations",
        method: "GET",
        path: "/iam/aws-compatibility/v1/accessKeys/{accessKeyId}/operations",
        host: Host::Iam,
        aim: Aim::Key,
        effect: Effect::Reads,
        answer: Some(DocKind::OperationList),
        shows: Shows::OperationsEntry,
        after_delete: AfterDelete::Open,
    },
    Route {
        name: "GetOperation",
        method: "GET",
        path: "/operations/{operationId}",
        host: Host::Operation,
        aim: Aim::Operation,
        effect: Effect::Reads,
        answer: None,
        shows: Shows::OperationResponse,
        after_delete: AfterDelete::KeepsOperations,
    },
];

/// The name of the route a request went to (`method` and its URL), for messages that
/// must not carry ids; `?` when it is none of the table's.
pub fn route_of(method: &str, url: &str) -> &'static str {
    let path = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(url);
    let path = path.split('?').next().unwrap_or(path);
    let matches = |template: &str| {
        let (want, got): (Vec<&str>, Vec<&str>) =
            (template.split('/').collect(), path.split('/').collect());
        // The route's path may sit under a prefix of the base URL.
        got.len() >= want.len()
            && got[got.len() - want.len()..]
                .iter()
                .zip(&want)
                .all(|(g, w)| w.starts_with('{') || g == w)
    };
    ROUTES
        .iter()
        .filter(|r| r.method == method && matches(r.path))
        .max_by_key(|r| r.path.len())
        .map_or("?", |r| r.name)
}

/// The route of this name.
pub fn named(name: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_named_by_their_route() {
        let keys = "http://h:1/iam/aws-compatibility/v1/accessKeys";
        assert_eq!(route_of("POST", keys), "Create");
        assert_eq!(
            route_of("GET", &format!("{keys}?serviceAccountId=a")),
            "List"
        );
        assert_eq!(route_of("GET", &format!("{keys}/aje1")), "Get");
        assert_eq!(route_of("PATCH", &format!("{keys}/aje1")), "Update");
        assert_eq!(
            route_of("GET", &format!("{keys}/aje1/operations")),
            "ListOperations"
        );
        assert_eq!(
            route_of("GET", "https://op.example/operations/aje2"),
            "GetOperation"
        );
        assert_eq!(route_of("PUT", keys), "?");
    }

    #[test]
    fn names_are_unique_and_paths_name_their_ids() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert_ne!(a.name, b.name);
                assert!(a.method != b.method || a.path != b.path || a.aim != b.aim);
            }
            match a.aim {
                Aim::Key => assert!(a.path.contains("{accessKeyId}"), "{}", a.name),
                Aim::Operation => assert!(a.path.contains("{operationId}"), "{}", a.name),
                Aim::Account => assert!(!a.path.contains('{'), "{}", a.name),
            }
            assert_eq!(a.mutates(), a.method != "GET", "{}", a.name);
        }
    }
}
