//! A3: List filtered by one service account shows that account's keys only, on every page of
//! the walk, while keys of a second account exist; a near-miss account id (letter case
//! changed, a character replaced by `_` or `%`) lists none of them.
//!
//! The predicate is L2's, which every List answer of the run gets (`checks::response`); these
//! checkers make the situations in which it is put to the test, and charge what it finds
//! there to A3. Both accounts are walked to the end with small pages: a filter lost after the
//! first page shows a key of the other account in one of the two walks, whatever the order
//! of the ids.

use super::Subject;
use crate::checks::Violation;
use crate::contract::routes::Route;
use crate::runner::{Ctx, HarnessError};

/// Keys of the second account the checker makes.
const ALT_KEYS: usize = 2;
/// At most this many pages a walk.
const MAX_PAGES: usize = 40;

/// The L2 findings since `mark`, charged to A3 and said where they were found.
fn charge_to_a3(ctx: &mut Ctx, mark: usize, situation: &str) {
    for v in ctx.violations.iter_mut().skip(mark) {
        if v.rule == "L2" {
            let title = format!("{situation}: {}", v.title);
            *v = v.clone().charged_to("A3");
            v.title = title;
        }
    }
}

/// The keys of a second service account exist (made with the run's credentials) while both
/// accounts are walked page by page.
pub async fn other_accounts(
    ctx: &mut Ctx,
    routes: Vec<&'static Route>,
) -> Result<(), HarnessError> {
    let run = ctx.run.clone();
    let Some(alt) = run.alt_account.clone() else {
        return Err(HarnessError::NotApplicable(
            "needs --alt-service-account-id".into(),
        ));
    };
    ctx.reserve_keys(1 + ALT_KEYS).await?;
    // A key of the run's own account, so that its walk has something to show.
    ctx.fresh_key("routes A3").await?;
    for _ in 0..ALT_KEYS {
        ctx.create_key(Some(&alt), "routes A3, second account")
            .await
            .map_err(|e| {
                HarnessError::Setup(format!(
                    "cannot create a key of the second service account {alt} with the run's credentials: {e}"
                ))
            })?;
    }
    for route in routes {
        ctx.enter_route(route.name);
        let mark = ctx.violations.len();
        ctx.walk_account(&alt, Some(1), MAX_PAGES).await?;
        charge_to_a3(
            ctx,
            mark,
            &format!("List of the second account {alt}, one key a page"),
        );
        let mark = ctx.violations.len();
        let own = run.service_account_id.clone();
        ctx.walk_account(&own, Some(5), MAX_PAGES).await?;
        charge_to_a3(
            ctx,
            mark,
            &format!(
                "List of the run's account {own}, five keys a page, while keys of {alt} exist"
            ),
        );
        ctx.leave_route();
    }
    Ok(())
}

/// Near misses of an account id: letter case changed, one character replaced by `_` (one
/// character in SQL's LIKE) and by `%` (any run of them), and the id cut short by one (a
/// prefix match lists the account).
fn near_misses(account: &str) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    let swapped: String = account
        .chars()
        .map(|c| {
            if c.is_lowercase() {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                c.to_lowercase().next().unwrap_or(c)
            }
        })
        .collect();
    if swapped != account {
        out.push((swapped, "the account id with its letter case changed"));
    }
    let chars: Vec<char> = account.chars().collect();
    if let Some(middle) = chars
        .len()
        .checked_sub(1)
        .map(|n| n / 2)
        .filter(|_| !chars.is_empty())
    {
        for (wild, what) in [
            ('_', "the account id with one character replaced by `_`"),
            ('%', "the account id with one character replaced by `%`"),
        ] {
            let mut near = chars.clone();
            near[middle] = wild;
            out.push((near.into_iter().collect(), what));
        }
    }
    if chars.len() > 1 {
        let cut: String = chars[..chars.len() - 1].iter().collect();
        out.push((cut, "the account id cut short by one character"));
    }
    out
}

/// Lists for near misses of the run's account id (while the account has a key) show none
/// of its keys.
pub async fn near_misses_list_nothing(
    ctx: &mut Ctx,
    routes: Vec<&'static Route>,
) -> Result<(), HarnessError> {
    let subject = Subject::make(ctx, "routes A3 near miss").await?;
    let own = ctx.run.service_account_id.clone();
    for route in routes {
        ctx.enter_route(route.name);
        for (near, what) in near_misses(&own) {
            let mark = ctx.violations.len();
            let walk = ctx.walk_account(&near, Some(100), 5).await?;
            charge_to_a3(ctx, mark, &format!("List for {what} ({near:?})"));
            if walk.ids().contains(&subject.id.as_str())
                && !ctx.violations[mark..].iter().any(|v| v.rule == "A3")
            {
                let mut v = Violation::new(
                    "A3",
                    format!(
                        "List for {what} ({near:?}) shows key {} of {own}",
                        subject.id
                    ),
                )
                .expected("none of the keys of another account");
                if let Some(page) = walk.pages.last() {
                    v = v.seen_in(&page.exchange);
                }
                ctx.record([v]);
            }
        }
        ctx.leave_route();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_differ_from_the_account() {
        let all = near_misses("ajeconformanceaccount");
        assert_eq!(all.len(), 4);
        assert!(all.iter().all(|(n, _)| n != "ajeconformanceaccount"));
        assert_eq!(all[0].0, "AJECONFORMANCEACCOUNT");
        assert_eq!(near_misses("1234").len(), 3);
    }
}
