#include "calibration/fit/least_squares.hpp"

#include <cmath>

namespace servesim::fit {

LeastSquaresResult levenberg_marquardt(
    const std::function<void(const Eigen::VectorXd&, Eigen::VectorXd&)>& residuals,
    Eigen::VectorXd x, Eigen::Index m, int max_iterations) {
  const Eigen::Index n = x.size();
  Eigen::VectorXd r(m), r_try(m), r_plus(m), r_minus(m);
  Eigen::MatrixXd J(m, n);
  residuals(x, r);
  double cost = 0.5 * r.squaredNorm();
  double lambda = 1e-3;
  LeastSquaresResult out;
  for (int it = 0; it < max_iterations; ++it) {
    out.iterations = it + 1;
    for (Eigen::Index j = 0; j < n; ++j) {
      const double h = 1e-6 * std::max(1.0, std::abs(x[j]));
      Eigen::VectorXd xp = x, xm = x;
      xp[j] += h;
      xm[j] -= h;
      residuals(xp, r_plus);
      residuals(xm, r_minus);
      J.col(j) = (r_plus - r_minus) / (2.0 * h);
    }
    const Eigen::MatrixXd JtJ = J.transpose() * J;
    const Eigen::VectorXd g = J.transpose() * r;
    if (g.lpNorm<Eigen::Infinity>() < 1e-12) {
      out.converged = true;
      break;
    }
    bool improved = false;
    for (int tries = 0; tries < 30 && !improved; ++tries) {
      Eigen::MatrixXd A = JtJ;
      A.diagonal() += lambda * (JtJ.diagonal().array() + 1e-12).matrix();
      const Eigen::VectorXd step = A.ldlt().solve(-g);
      const Eigen::VectorXd x_try = x + step;
      residuals(x_try, r_try);
      const double cost_try = 0.5 * r_try.squaredNorm();
      if (std::isfinite(cost_try) && cost_try < cost) {
        const double rel = (cost - cost_try) / std::max(cost, 1e-300);
        x = x_try;
        r = r_try;
        cost = cost_try;
        lambda = std::max(lambda / 3.0, 1e-12);
        improved = true;
        if (rel < 1e-12 || step.norm() < 1e-12 * (x.norm() + 1e-12)) out.converged = true;
      } else {
        lambda *= 4.0;
      }
    }
    if (!improved) break;  // stalled: converged only if a step above said so
    if (out.converged) break;
  }
  out.x = x;
  out.cost = cost;
  return out;
}

}  // namespace servesim::fit
