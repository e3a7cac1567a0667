//! Funnel report types.

use crate::ids::{DepartmentId, PipelineId, StageId, UserId};
use crate::model::StageKind;
use crate::money::{Currency, Money};
use crate::period::Grouping;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What a funnel report covers.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelQuery {
    /// The pipeline.
    pub pipeline_id: PipelineId,
    /// First day of the range (inclusive), in `time_zone`.
    pub from: NaiveDate,
    /// Day after the range (exclusive), in `time_zone`.
    pub to: NaiveDate,
    /// How periods are grouped.
    #[serde(default)]
    pub grouping: Grouping,
    /// IANA time zone of the calendar; defaults to the database's report time zone.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Only deals of this owner.
    #[serde(default)]
    pub owner_id: Option<UserId>,
    /// Only deals stamped with this department or one below it.
    #[serde(default)]
    pub department_id: Option<DepartmentId>,
    /// Also convert totals into this currency, with the rates in force on `rate_date`.
    #[serde(default)]
    pub reporting_currency: Option<Currency>,
    /// Day whose exchange rates convert (default: the last day of the range).
    #[serde(default)]
    pub rate_date: Option<NaiveDate>,
}

/// A count and its amounts, one per currency, never summed across currencies; `converted` is
/// the total in the reporting currency when one was asked for and every rate was known.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    /// Number of deals (or activities).
    pub count: u64,
    /// Amounts per currency, sorted by currency code.
    pub amounts: Vec<Money>,
    /// Total in the reporting currency.
    pub converted: Option<Money>,
}

/// Open deals in one stage now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageFigures {
    /// The stage.
    pub stage_id: StageId,
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: StageKind,
    /// Open deals in it.
    pub open: Figures,
}

/// Figures of one period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodFigures {
    /// Label, e.g. `2024-03` or `2024-Q1`.
    pub period: String,
    /// First day of the period.
    pub start: NaiveDate,
    /// The figures.
    pub figures: Figures,
}

/// Passing from one open stage to the next, over deals created in the range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conversion {
    /// The stage.
    pub from_stage_id: StageId,
    /// The next stage in funnel order (the won stages for the last open stage).
    pub to_stage_id: Option<StageId>,
    /// Deals that reached `from`.
    pub reached: u64,
    /// Of those, deals that went further.
    pub advanced: u64,
    /// `advanced / reached`, in [0, 1]; `None` when none reached.
    pub rate: Option<f64>,
}

/// Average time spent in a stage by deals that left it during the range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageTime {
    /// The stage.
    pub stage_id: StageId,
    /// Stays counted.
    pub stays: u64,
    /// Average length in days.
    pub average_days: Option<f64>,
}

/// Totals of a range, also given for the previous range of the same length.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// First day (inclusive).
    pub from: NaiveDate,
    /// Day after the range.
    pub to: NaiveDate,
    /// Deals created.
    pub created: Figures,
    /// Deals won.
    pub won: Figures,
    /// Deals lost.
    pub lost: Figures,
    /// `won / (won + lost)`; `None` when nothing closed.
    pub win_rate: Option<f64>,
    /// Average days from creation to winning, over deals won in the range.
    pub average_cycle_days: Option<f64>,
}

/// Results of one manager or department.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakdown {
    /// The user or department id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Deals created in the range.
    pub created: Figures,
    /// Deals won in the range.
    pub won: Figures,
    /// Deals lost in the range.
    pub lost: Figures,
    /// Open deals now.
    pub open: Figures,
}

/// A cell of the stage × period × manager pivot: deals created in the period, by their current
/// stage and owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortCell {
    /// Current stage.
    pub stage_id: StageId,
    /// Creation period label.
    pub period: String,
    /// Owner.
    pub owner_id: UserId,
    /// The deals.
    pub figures: Figures,
}

/// Activity of one user in one period (activities done in it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerActivity {
    /// The user.
    pub user_id: UserId,
    /// Period label.
    pub period: String,
    /// Tasks done.
    pub tasks: u64,
    /// Calls.
    pub calls: u64,
    /// Meetings.
    pub meetings: u64,
    /// E-mails.
    pub emails: u64,
    /// Notes.
    pub notes: u64,
}

/// How often deals were lost for one reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostReason {
    /// The reason as entered (empty when none was recorded).
    pub reason: String,
    /// Deals lost for it in the range.
    pub count: u64,
}

/// A funnel report: every figure counts only records the acting user may read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunnelReport {
    /// The pipeline.
    pub pipeline_id: PipelineId,
    /// Its name.
    pub pipeline_name: String,
    /// The time zone the calendar is in.
    pub time_zone: String,
    /// The grouping.
    pub grouping: Grouping,
    /// Open deals per stage now, in funnel order.
    pub stages: Vec<StageFigures>,
    /// Totals of the range.
    pub summary: Summary,
    /// Totals of the previous range of the same length.
    pub previous: Summary,
    /// Won deals per period.
    pub won_by_period: Vec<PeriodFigures>,
    /// Lost deals per period.
    pub lost_by_period: Vec<PeriodFigures>,
    /// Weighted forecast (amount × probability) of open deals by expected-close period.
    pub forecast: Vec<PeriodFigures>,
    /// Stage-to-stage conversion from the stage history.
    pub conversion: Vec<Conversion>,
    /// Average time in each stage.
    pub stage_times: Vec<StageTime>,
    /// Per manager (owner).
    pub by_manager: Vec<Breakdown>,
    /// Per department (stamp).
    pub by_department: Vec<Breakdown>,
    /// Lost reasons with their counts, most frequent first.
    pub lost_reasons: Vec<LostReason>,
    /// The stage × period × manager pivot of deals created in the range.
    pub cohorts: Vec<CohortCell>,
    /// Activities done per user and period.
    pub activity: Vec<ManagerActivity>,
    /// Currencies that could not be converted for lack of a rate.
    pub missing_rates: Vec<Currency>,
}
