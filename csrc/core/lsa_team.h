// The solver of lsa_core.h spread over a team of lanes that solve one problem
// together: lane j owns column j, and row j when j < nr. The CUDA kernels run
// it with a tile of 8, 16 or 32 lanes of a warp per problem (up to 32
// columns) and with a thread block per problem (more columns); the CPU runs
// it lane by lane (SerialTeam below) under IDMATCH_CPU_CUDA_PATH=1, so the
// CPU suite covers the very steps the GPU teams take. See docs/design.md,
// "GPU kernels".
//
// Every step does what lsa_core.h's serial scan does, per column and with the
// same floating point operations in the same order; only the pick of the next
// column changes shape. scipy scans the remaining columns in order and takes
// a column when its path cost is below the lowest so far, or equal to it and
// the column is free (unassigned). So among the columns at the minimum it
// takes the last free one in scan order if any is free, else the first one.
// A team finds that column as the minimum of a key: (path cost, then the
// column's position in the scan order, negated and shifted below every
// position for free columns). The keys of distinct columns differ, so any
// order of reduction gives the same pick. Path costs are compared as
// doubles, never as integer bit patterns, so -0.0 and 0.0 tie as in scipy,
// and no path cost is NaN (see first_path_cost).
//
// Removing the picked column from the scan order swaps the last remaining
// column into its position, as lsa_core.h does: each lane keeps its column's
// position, so removal is a local update in every lane.
#pragma once

#include <cstdint>
#include <type_traits>

#include "lsa_core.h"
#include "ragged_lsa.h"

namespace idmatch {
namespace core {

// A column's state, held by its lane.
struct ColumnState {
  double v;    // dual
  double spc;  // shortest path cost; after a path's dual update, min_val - spc
  int32_t path;
  int32_t row4col;
  int32_t pos;  // position in the scan order; taken columns are at num_remaining and beyond
};

// A row's state, held by the lane of the same index.
struct RowState {
  double u;  // dual
  int32_t col4row;
};

// The key a team minimizes to pick the next column (see the top of this file).
struct PickKey {
  double cost;
  int32_t tie;  // pos for an assigned column, -1 - pos for a free one
  int32_t column;
  int32_t row;  // row4col of the column: -1 when it is free (the path's sink)
};

IDMATCH_HOST_DEVICE inline PickKey no_pick() { return {positive_infinity(), 0x7fffffff, -1, -1}; }

IDMATCH_HOST_DEVICE inline PickKey pick_key(const ColumnState& c, int32_t column) {
  return {c.spc, c.row4col < 0 ? -1 - c.pos : c.pos, column, c.row4col};
}

IDMATCH_HOST_DEVICE inline bool precedes(const PickKey& a, const PickKey& b) {
  return a.cost < b.cost || (a.cost == b.cost && a.tie < b.tie);
}

IDMATCH_HOST_DEVICE inline int32_t pick_position(const PickKey& k) { return k.row < 0 ? -1 - k.tie : k.tie; }

IDMATCH_HOST_DEVICE inline ColumnState fresh_column() { return {0.0, positive_infinity(), -1, -1, 0}; }

IDMATCH_HOST_DEVICE inline RowState fresh_row() { return {0.0, -1}; }

// The first scan of a path, from row `start`, at column `column` holding
// `entry`: the initial scan order is the columns in reverse, as scipy's.
// Returns whether the entry is one scipy refuses.
IDMATCH_HOST_DEVICE inline bool start_path(ColumnState& c, int32_t column, int32_t nc, int32_t start, double entry,
                                           double u_start) {
  const double min_val = 0.0;
  c.pos = nc - 1 - column;
  c.spc = first_path_cost(min_val + entry - u_start - c.v);
  c.path = start;
  return is_invalid_entry(entry);
}

// Removes the picked column from the scan order, whose last remaining
// position is now `last`.
IDMATCH_HOST_DEVICE inline void take_column(ColumnState& c, int32_t column, const PickKey& picked, int32_t last) {
  if (column == picked.column) {
    c.pos = last;
  } else if (c.pos == last) {
    c.pos = pick_position(picked);
  }
}

// A later scan, from row `row`, of a remaining column holding `entry`.
IDMATCH_HOST_DEVICE inline void relax_column(ColumnState& c, int32_t row, double min_val, double entry, double u_row) {
  const double r = min_val + entry - u_row - c.v;
  if (r < c.spc) {
    c.spc = r;
    c.path = row;
  }
}

// The dual update of a column taken by the path that reached min_val; it
// leaves the change min_val - spc in spc for its row (update_row_dual).
IDMATCH_HOST_DEVICE inline void update_column_dual(ColumnState& c, double min_val) {
  const double delta = min_val - c.spc;
  c.v -= delta;
  c.spc = delta;
}

// The dual update of row `row` after a path from row `start`: `assigned` is
// the state of the row's column (any column when the row has none).
IDMATCH_HOST_DEVICE inline void update_row_dual(RowState& r, int32_t row, int32_t start, double min_val,
                                                const ColumnState& assigned, int32_t num_remaining) {
  if (row == start) {
    r.u += min_val;
  } else if (r.col4row >= 0 && assigned.pos >= num_remaining) {
    r.u += assigned.spc;
  }
}

// Whether a cost accessor's row(i) is a collective of the team's lanes
// (Cost::kCollectiveRows): such a cost also reads a cell alone with
// cell(i, j).
template <class Cost, class = void>
struct collective_rows : std::false_type {};
template <class Cost>
struct collective_rows<Cost, std::void_t<decltype(Cost::kCollectiveRows)>>
    : std::integral_constant<bool, Cost::kCollectiveRows> {};

// Cell (i, j) read by one lane on its own, outside the team's collectives.
template <class Cost>
IDMATCH_HOST_DEVICE double lone_cell(const Cost& cost, int32_t i, int32_t j) {
  if constexpr (collective_rows<Cost>::value) {
    return cost.cell(i, j);
  } else {
    return cost.row(i)(j);
  }
}

// Solves a problem already in the solver's orientation (nr <= nc) with a
// team of lanes, as solve_oriented (lsa_core.h) does; the assignment is left
// in the lanes' col4row and row4col. Every lane of the team calls it with the
// same arguments, and every lane gets the same status. A Team has, called by
// all its lanes at once:
//   init()                   fresh states for columns [0, nc), rows [0, nr);
//   for_columns(f)           f(j, ColumnState&) for each column;
//   any_column(f)            the same, and whether f returned true for any;
//   min_column(f)            the least of f(j, const ColumnState&) by precedes;
//   column(j), row(i)        a copy of a column's or a row's state;
//   for_rows(f)              f(i, RowState&, state of column col4row[i]);
//   at_column(j, f), at_row(i, f)  f on one column's or one row's state;
//   sync()                   makes every lane's writes visible to all lanes
//                            (a team whose lanes share memory waits there);
// and, called by all its lanes before: stage(cost, nr, nc), the cost
// accessor to solve with (the cost itself, or a copy of the same values
// where the team keeps one; a collective where the lanes share the copy).
// A cost whose row(i) is a collective (collective_rows) is read by all
// lanes at once there, and cell by cell elsewhere (lone_cell).
template <class Team, class Cost>
IDMATCH_HOST_DEVICE Status solve_oriented_team(Team& team, const Cost& cost, int32_t nr, int32_t nc) {
  team.init();
  for (int32_t cur = 0; cur < nr; ++cur) {
    team.sync();
    double min_val = 0.0;
    {
      const double u_cur = team.row(cur).u;
      const auto line = cost.row(cur);
      // scipy refuses NaN and -inf entries: the first scan of a row reads it
      // all, as in lsa_core.h.
      const bool invalid =
          team.any_column([&](int32_t j, ColumnState& c) { return start_path(c, j, nc, cur, line(j), u_cur); });
      if (invalid) return kInvalidEntries;
    }
    int32_t num_remaining = nc;
    int32_t sink = -1;
    while (true) {
      const PickKey picked = team.min_column(
          [&](int32_t j, const ColumnState& c) { return c.pos < num_remaining ? pick_key(c, j) : no_pick(); });
      min_val = picked.cost;
      if (min_val == positive_infinity()) {
        // Rows not reached yet decide between the two errors, as in
        // solve_oriented.
        const bool invalid = team.any_column([&](int32_t j, ColumnState&) {
          bool found = false;
          for (int32_t i = cur + 1; i < nr; ++i) found |= is_invalid_entry(lone_cell(cost, i, j));
          return found;
        });
        return invalid ? kInvalidEntries : kInfeasible;
      }
      --num_remaining;
      if (picked.row < 0) {
        team.for_columns([&](int32_t j, ColumnState& c) { take_column(c, j, picked, num_remaining); });
        sink = picked.column;
        break;
      }
      const int32_t i = picked.row;
      const double u_i = team.row(i).u;
      const auto line = cost.row(i);
      team.for_columns([&](int32_t j, ColumnState& c) {
        take_column(c, j, picked, num_remaining);
        if (c.pos < num_remaining) relax_column(c, i, min_val, line(j), u_i);
      });
    }

    team.for_columns([&](int32_t, ColumnState& c) {
      if (c.pos >= num_remaining) update_column_dual(c, min_val);
    });
    team.sync();
    team.for_rows([&](int32_t i, RowState& r, const ColumnState& assigned) {
      update_row_dual(r, i, cur, min_val, assigned, num_remaining);
    });
    team.sync();

    // Augment along the path back to `cur`: every lane reads the next step
    // before any lane writes this one.
    int32_t j = sink;
    while (true) {
      const int32_t i = team.column(j).path;
      const int32_t previous = team.row(i).col4row;
      team.sync();
      team.at_column(j, [&](ColumnState& c) { c.row4col = i; });
      team.at_row(i, [&](RowState& r) { r.col4row = j; });
      j = previous;
      if (i == cur) break;
    }
  }
  team.sync();
  return kOk;
}

// solve_problem (lsa_core.h) with a team whose nr and nc are those of
// oriented_dims(n, m); the lanes report the pairs, each lane its own.
template <class Team, class Cost, class Emit>
IDMATCH_HOST_DEVICE Status solve_problem_team(Team& team, const Cost& oriented, int64_t n, int64_t m, Emit&& emit) {
  const bool transposed = n > m;
  const int32_t nr = static_cast<int32_t>(transposed ? m : n);
  const int32_t nc = static_cast<int32_t>(transposed ? n : m);
  if (nr == 0) return kOk;
  const Status status = solve_oriented_team(team, team.stage(oriented, nr, nc), nr, nc);
  if (status != kOk) return status;
  if (!transposed) {
    team.for_rows([&](int32_t i, RowState& r, const ColumnState&) { emit(i, r.col4row); });
  } else {
    team.for_columns([&](int32_t j, ColumnState& c) {
      if (c.row4col >= 0) emit(j, c.row4col);
    });
  }
  return kOk;
}

// The solver's dimensions of an n x m problem; false when it is too large.
IDMATCH_HOST_DEVICE inline bool oriented_dims(int64_t n, int64_t m, int32_t* nr, int32_t* nc) {
  if (n > kMaxDim || m > kMaxDim) return false;
  *nr = static_cast<int32_t>(n > m ? m : n);
  *nc = static_cast<int32_t>(n > m ? n : m);
  return true;
}

// The widest problem a tile of lanes takes; wider ones take a thread block.
constexpr int64_t kMaxTileColumns = 32;

// Lanes of the tile that takes a problem of nc columns: 8, 16 or 32, or 0
// for a problem that a block takes.
IDMATCH_HOST_DEVICE inline int32_t tile_width(int64_t nc) {
  if (nc <= 8) return 8;
  if (nc <= 16) return 16;
  if (nc <= kMaxTileColumns) return 32;
  return 0;
}

// Problem s of a batch with valid offsets, solved by a team built for its
// oriented_dims; status[s] is written by the lane for which `leader` holds.
template <class Team, typename T>
IDMATCH_HOST_DEVICE void solve_ragged_problem_team(Team& team, const RaggedLsaParams<T>& p, int64_t s, bool leader) {
  const int64_t n = p.offsets[s + 1] - p.offsets[s];
  const int64_t m = p.num_cols;
  const StridedRows<T> source = problem_rows(p, s);
  const WriteAssignment<StridedRows<T>> write{source, m, p.match_filter, p.col_for_row};
  const Status status = dispatch_bool(n > m, [&](auto tall) {
    return dispatch_bool(p.maximize, [&](auto negate) {
      using View = Oriented<StridedRows<T>, decltype(tall)::value, decltype(negate)::value>;
      return solve_problem_team(team, View{source}, n, m, write);
    });
  });
  if (leader) p.status[s] = status;
}

// Lane states kept in a problem's Workspace (lsa_core.h), with `remaining`
// holding each column's position: the storage of the block teams, whose
// lanes share memory, and of SerialTeam.
struct WorkspaceLanes {
  Workspace ws;
  int32_t nr;
  int32_t nc;

  IDMATCH_HOST_DEVICE ColumnState load_column(int32_t j) const {
    return {ws.v[j], ws.spc[j], ws.path[j], ws.row4col[j], ws.remaining[j]};
  }
  IDMATCH_HOST_DEVICE void store_column(int32_t j, const ColumnState& c) const {
    ws.v[j] = c.v;
    ws.spc[j] = c.spc;
    ws.path[j] = c.path;
    ws.row4col[j] = c.row4col;
    ws.remaining[j] = c.pos;
  }
  IDMATCH_HOST_DEVICE RowState load_row(int32_t i) const { return {ws.u[i], ws.col4row[i]}; }
  IDMATCH_HOST_DEVICE void store_row(int32_t i, const RowState& r) const {
    ws.u[i] = r.u;
    ws.col4row[i] = r.col4row;
  }
  // The state of row i's column, or a fresh one where it has none.
  IDMATCH_HOST_DEVICE ColumnState assigned_column(const RowState& r) const {
    return r.col4row >= 0 ? load_column(r.col4row) : fresh_column();
  }
};

// A team run by one thread, lane after lane, on a Workspace.
struct SerialTeam {
  WorkspaceLanes lanes;

  template <class Cost>
  const Cost& stage(const Cost& cost, int32_t, int32_t) const {
    return cost;
  }

  void init() const {
    for (int32_t j = 0; j < lanes.nc; ++j) lanes.store_column(j, fresh_column());
    for (int32_t i = 0; i < lanes.nr; ++i) lanes.store_row(i, fresh_row());
  }
  template <class F>
  void for_columns(F&& f) const {
    for (int32_t j = 0; j < lanes.nc; ++j) {
      ColumnState c = lanes.load_column(j);
      f(j, c);
      lanes.store_column(j, c);
    }
  }
  template <class F>
  bool any_column(F&& f) const {
    bool found = false;
    for_columns([&](int32_t j, ColumnState& c) { found |= f(j, c); });
    return found;
  }
  template <class F>
  PickKey min_column(F&& f) const {
    PickKey best = no_pick();
    for (int32_t j = 0; j < lanes.nc; ++j) {
      const PickKey key = f(j, lanes.load_column(j));
      if (precedes(key, best)) best = key;
    }
    return best;
  }
  ColumnState column(int32_t j) const { return lanes.load_column(j); }
  RowState row(int32_t i) const { return lanes.load_row(i); }
  template <class F>
  void for_column_indices(F&& f) const {
    for (int32_t j = 0; j < lanes.nc; ++j) f(j);
  }
  // In reverse: a block's threads run their shares at once, so no order
  // may matter, and the reverse of the natural one shows where one does.
  template <class F>
  void for_share(int64_t n, F&& f) const {
    for (int64_t k = n - 1; k >= 0; --k) f(k);
  }
  template <class F>
  void for_rows(F&& f) const {
    for (int32_t i = 0; i < lanes.nr; ++i) {
      RowState r = lanes.load_row(i);
      f(i, r, lanes.assigned_column(r));
      lanes.store_row(i, r);
    }
  }
  template <class F>
  void at_column(int32_t j, F&& f) const {
    ColumnState c = lanes.load_column(j);
    f(c);
    lanes.store_column(j, c);
  }
  template <class F>
  void at_row(int32_t i, F&& f) const {
    RowState r = lanes.load_row(i);
    f(r);
    lanes.store_row(i, r);
  }
  void sync() const {}
};

// Problem s of a batch that shares one workspace (workspace_units), solved
// by a SerialTeam on its slot: the CPU's imitation of the CUDA kernels' team
// solvers. `refuse` as for solve_shared_workspace_problem.
template <typename T>
void solve_shared_workspace_problem_serial_team(const RaggedLsaParams<T>& p, int64_t s, double* doubles, int32_t* ints,
                                                bool refuse) {
  int32_t nr = 0;
  int32_t nc = 0;
  if (refuse || !oriented_dims(p.offsets[s + 1] - p.offsets[s], p.num_cols, &nr, &nc)) {
    p.status[s] = kInvalidProblem;
    return;
  }
  const int64_t slot = workspace_slot(p.offsets, s, p.num_cols);
  SerialTeam team{{make_workspace(doubles + kDoublesPerUnit * slot, ints + kIntsPerUnit * slot, nr, nc), nr, nc}};
  solve_ragged_problem_team(team, p, s, /*leader=*/true);
}

}  // namespace core
}  // namespace idmatch
