//! A uniform grid of item indices over board space, so a frame touches only what it shows.

use egui::{Pos2, Rect};

/// Items (node rects, by their index in the board) bucketed in a dense uniform grid that covers
/// their bounds. Cells are sized so that there are about as many cells as items.
#[derive(Clone, Debug)]
pub struct SpatialIndex {
    bounds: Rect,
    cell: f32,
    cols: usize,
    rows: usize,
    cells: Vec<Vec<u32>>,
    rects: Vec<Rect>,
    /// Per item: the query generation that last returned it (deduplicates multi-cell items).
    seen: Vec<u32>,
    generation: u32,
}

impl Default for SpatialIndex {
    fn default() -> Self {
        Self {
            bounds: Rect::NOTHING,
            cell: 1.0,
            cols: 0,
            rows: 0,
            cells: Vec::new(),
            rects: Vec::new(),
            seen: Vec::new(),
            generation: 0,
        }
    }
}

impl SpatialIndex {
    /// Builds the index over `rects`; item `i` is `rects[i]`.
    pub fn build(rects: &[Rect]) -> Self {
        let Some(bounds) = rects.iter().copied().reduce(Rect::union) else {
            return Self::default();
        };
        let area = (bounds.width() * bounds.height()).max(1.0);
        let cell = (area / rects.len() as f32).sqrt().max(64.0);
        let cols = ((bounds.width() / cell).ceil() as usize).clamp(1, 4096);
        let rows = ((bounds.height() / cell).ceil() as usize).clamp(1, 4096);
        let mut index = Self {
            bounds,
            cell,
            cols,
            rows,
            cells: vec![Vec::new(); cols * rows],
            rects: rects.to_vec(),
            seen: vec![0; rects.len()],
            generation: 0,
        };
        for (i, rect) in rects.iter().enumerate() {
            let (c0, r0, c1, r1) = index.cell_range(*rect);
            for r in r0..=r1 {
                for c in c0..=c1 {
                    index.cells[r * cols + c].push(i as u32);
                }
            }
        }
        index
    }

    pub fn len(&self) -> usize {
        self.rects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rects.is_empty()
    }

    /// The union of all items.
    pub fn bounds(&self) -> Option<Rect> {
        (!self.rects.is_empty()).then_some(self.bounds)
    }

    fn cell_range(&self, rect: Rect) -> (usize, usize, usize, usize) {
        let to_col = |x: f32| {
            (((x - self.bounds.min.x) / self.cell).floor().max(0.0) as usize).min(self.cols - 1)
        };
        let to_row = |y: f32| {
            (((y - self.bounds.min.y) / self.cell).floor().max(0.0) as usize).min(self.rows - 1)
        };
        (
            to_col(rect.min.x),
            to_row(rect.min.y),
            to_col(rect.max.x),
            to_row(rect.max.y),
        )
    }

    /// Appends to `out`, in ascending (drawing) order, every item whose rect intersects `rect`.
    pub fn query(&mut self, rect: Rect, out: &mut Vec<u32>) {
        out.clear();
        if self.rects.is_empty() || !rect.intersects(self.bounds) {
            return;
        }
        if rect.contains_rect(self.bounds) {
            out.extend(0..self.rects.len() as u32);
            return;
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.seen.fill(0);
            self.generation = 1;
        }
        let (c0, r0, c1, r1) = self.cell_range(rect);
        for r in r0..=r1 {
            for c in c0..=c1 {
                for &i in &self.cells[r * self.cols + c] {
                    let seen = &mut self.seen[i as usize];
                    if *seen != self.generation {
                        *seen = self.generation;
                        if self.rects[i as usize].intersects(rect) {
                            out.push(i);
                        }
                    }
                }
            }
        }
        out.sort_unstable();
    }

    /// The topmost (last drawn) item containing `pos`.
    pub fn topmost_at(&self, pos: Pos2) -> Option<u32> {
        if self.rects.is_empty() || !self.bounds.contains(pos) {
            return None;
        }
        let (c, r, _, _) = self.cell_range(Rect::from_min_max(pos, pos));
        self.cells[r * self.cols + c]
            .iter()
            .copied()
            .filter(|&i| self.rects[i as usize].contains(pos))
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use egui::{pos2, vec2};

    fn grid_of(n: usize) -> Vec<Rect> {
        (0..n)
            .map(|i| {
                let (x, y) = ((i % 100) as f32, (i / 100) as f32);
                Rect::from_min_size(pos2(x * 300.0, y * 200.0), vec2(200.0, 120.0))
            })
            .collect()
    }

    fn brute(rects: &[Rect], q: Rect) -> Vec<u32> {
        (0..rects.len() as u32)
            .filter(|&i| rects[i as usize].intersects(q))
            .collect()
    }

    #[test]
    fn query_matches_brute_force() {
        let rects = grid_of(2_500);
        let mut index = SpatialIndex::build(&rects);
        let mut out = Vec::new();
        for q in [
            Rect::from_min_size(pos2(0.0, 0.0), vec2(1280.0, 800.0)),
            Rect::from_min_size(pos2(5_000.0, 1_000.0), vec2(640.0, 400.0)),
            Rect::from_min_size(pos2(-500.0, -500.0), vec2(10.0, 10.0)),
            Rect::from_min_size(pos2(150.0, 90.0), vec2(100.0, 100.0)),
            Rect::from_min_size(pos2(-1e6, -1e6), vec2(2e6, 2e6)),
        ] {
            index.query(q, &mut out);
            assert_eq!(out, brute(&rects, q), "query {q:?}");
        }
    }

    #[test]
    fn items_spanning_cells_are_returned_once() {
        let mut rects = grid_of(100);
        rects.push(Rect::from_min_size(pos2(0.0, 0.0), vec2(30_000.0, 200.0)));
        let mut index = SpatialIndex::build(&rects);
        let mut out = Vec::new();
        index.query(
            Rect::from_min_size(pos2(100.0, 50.0), vec2(20_000.0, 100.0)),
            &mut out,
        );
        assert_eq!(out.iter().filter(|&&i| i == 100).count(), 1);
        assert!(out.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
    }

    #[test]
    fn topmost_at_prefers_the_last_drawn() {
        let rects = vec![
            Rect::from_min_size(pos2(0.0, 0.0), vec2(100.0, 100.0)),
            Rect::from_min_size(pos2(50.0, 50.0), vec2(100.0, 100.0)),
        ];
        let index = SpatialIndex::build(&rects);
        assert_eq!(index.topmost_at(pos2(10.0, 10.0)), Some(0));
        assert_eq!(index.topmost_at(pos2(75.0, 75.0)), Some(1));
        assert_eq!(index.topmost_at(pos2(140.0, 10.0)), None);
        assert_eq!(index.topmost_at(pos2(-5.0, 10.0)), None);
    }

    #[test]
    fn empty_index_answers_nothing() {
        let mut index = SpatialIndex::build(&[]);
        let mut out = vec![7];
        index.query(Rect::EVERYTHING, &mut out);
        assert!(out.is_empty());
        assert!(index.topmost_at(Pos2::ZERO).is_none());
        assert!(index.bounds().is_none());
    }
}
